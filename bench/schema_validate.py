"""Benchmark: batch validation throughput, side by side with the jsonschema package.

Both validate the same payloads: Hjem's ``validate_batch`` (parse, models, semantic checks)
and ``jsonschema``'s Draft 2020-12 validator on the committed ``batch.schema.json`` (JSON
parsing plus structural checks only, no semantics). Prints observations/s for each.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from schemas.builders import make_observation
from schemas.export import JSON_DIR
from schemas.models import Batch, DeviceInfo, Source, encode
from schemas.validation import validate_batch

__all__ = ["validate_throughput"]


def _payloads(per_batch: int, batches: int) -> list[bytes]:
    start = datetime(2026, 11, 28, tzinfo=UTC)
    source = Source(publisher="gw-1", gateway="gw-1", device=DeviceInfo(id="ble-1"))
    out = []
    for b in range(batches):
        obs = [
            make_observation(
                "heart_rate",
                source=source,
                value=str(60 + i % 40),
                effective=start + timedelta(seconds=b * per_batch + i),
            )
            for i in range(per_batch)
        ]
        out.append(
            encode(Batch(message_id=f"m-{b}", publisher="gw-1", sent=start, observations=obs))
        )
    return out


def _rate(func: object, payloads: list[bytes], per_batch: int) -> float:
    started = time.perf_counter()
    for payload in payloads:
        func(payload)  # type: ignore[operator]
    return len(payloads) * per_batch / (time.perf_counter() - started)


def validate_throughput() -> None:
    import jsonschema

    now = datetime(2026, 11, 29, tzinfo=UTC)
    validator = jsonschema.Draft202012Validator(
        json.loads((JSON_DIR / "batch.schema.json").read_text(encoding="utf-8"))
    )
    print(f"{'obs/message':>12} {'hjem validate_batch':>22} {'jsonschema (peer)':>20} {'ratio':>7}")
    for per_batch, batches in ((1, 5000), (100, 100)):
        payloads = _payloads(per_batch, batches)
        assert not validate_batch(payloads[0], now=now).errors
        ours = _rate(lambda p: validate_batch(p, now=now), payloads, per_batch)
        peer = _rate(lambda p: validator.validate(json.loads(p)), payloads, per_batch)
        print(f"{per_batch:>12} {ours:>18,.0f}/s {peer:>16,.0f}/s {ours / peer:>6.1f}x")
