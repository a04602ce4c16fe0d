"""In-process ceilings of ``hjem bench ingest``: the parts of ingest alone, without MQTT.

The fast path alone, validation with the pydantic models alone, the commits alone
(messages judged beforehand, committed in groups of about 1,000 observations into a fresh
database), and the hub process's share when its relay judged the messages (decoding the
verdicts, resolving, committing), each timed on the benchmark's payloads.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.service import Hub

__all__ = ["accept_only", "hub_part", "store_only", "validate_only"]


def validate_only(payloads: list[bytes]) -> float:
    """Seconds validate_batch (the pydantic models) alone takes for the payloads."""
    from schemas.validation import validate_batch

    now = datetime.now(UTC)
    started = time.perf_counter()
    for payload in payloads:
        validate_batch(payload, now=now, expected_publisher="gw-bench")
    return time.perf_counter() - started


def accept_only(payloads: list[bytes]) -> float:
    """Seconds the hub's fast path (hub.ingest.fastpath.accept) alone takes for the payloads."""
    from hub.ingest.fastpath import accept

    now = datetime.now(UTC)
    started = time.perf_counter()
    for payload in payloads:
        if accept(payload, now=now, expected_publisher="gw-bench") is None:
            raise RuntimeError("the benchmark's payloads must take the fast path")
    return time.perf_counter() - started


def store_only(workdir: Path, payloads: list[bytes], per_message: int) -> float:
    """Seconds the hub's commits alone take (judged beforehand; groups of ~1,000 observations)."""
    from hub.config import HttpSettings, HubSettings
    from hub.ingest.commit import Inbound, judge_all
    from hub.service import Hub

    settings = HubSettings(database=workdir / "store.sqlite3", http=HttpSettings(enabled=False))
    hub = Hub(settings, mqtt=False, alerts=False)
    hub.open()
    now = datetime.now(UTC)
    inbounds = [Inbound("hjem/v1/gw-bench/obs", p, now) for p in payloads]
    size = max(1, 1000 // per_message)
    resolve = hub.registry.resolver()
    groups = [
        judge_all(inbounds[i : i + size], now=now, resolve=resolve)
        for i in range(0, len(inbounds), size)
    ]
    return _timed(hub, lambda: [hub.ingestor.commit(judged) for judged in groups])


def hub_part(workdir: Path, payloads: list[bytes]) -> float:
    """Seconds the hub process's own share takes for messages its relay judged: decode the
    verdicts, resolve, commit (groups of up to 4 MiB, as the hub reads them)."""
    from hub.config import HttpSettings, HubSettings
    from hub.ingest.commit import Inbound
    from hub.ingest.verdicts import verdict
    from hub.service import Hub

    settings = HubSettings(database=workdir / "part.sqlite3", http=HttpSettings(enabled=False))
    hub = Hub(settings, mqtt=False, alerts=False)
    hub.open()
    now = datetime.now(UTC)
    topic = "hjem/v1/gw-bench/obs"
    inbounds = [Inbound(topic, p, now, verdict=verdict(topic, p, now=now)) for p in payloads]
    groups, group, size = [], [], 0
    for inbound in inbounds:
        group.append(inbound)
        size += len(inbound.payload) + len(inbound.verdict or b"")
        if size >= settings.ingest.max_batch_bytes or len(group) >= 1000:
            groups.append(group)
            group, size = [], 0
    groups += [group] if group else []
    return _timed(hub, lambda: [hub.ingestor.process(each) for each in groups])


def _timed(hub: Hub, work: Callable[[], object]) -> float:
    """Seconds ``work`` takes; then the hub's database is closed."""
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    hub.store.close()
    hub.conn.close()
    return elapsed
