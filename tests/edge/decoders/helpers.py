"""Shared helpers for the decoder tests: contexts, vector loading, expectation checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.decoders import DecodeContext, DeviceState, decode_advertisement, decode_gatt
from schemas.codes import codes
from schemas.models import DataAbsentReason, DeviceInfo, Observation, Source
from schemas.validation import check_observation

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MAC = "54:48:E6:8F:80:A5"
PUBLISHER = "gw-test"
VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def source(mac: str | None = MAC, device_id: str = "dev-1") -> Source:
    return Source(
        publisher=PUBLISHER, gateway="gw-test", device=DeviceInfo(id=device_id, address=mac)
    )


def context(
    state: DeviceState | None = None,
    *,
    mac: str | None = MAC,
    key: bytes | None = None,
    now: datetime = NOW,
    clock_offset: timedelta | None = None,
    demo: bool = False,
    device_id: str = "dev-1",
) -> DecodeContext:
    return DecodeContext(
        source=source(mac, device_id),
        now=now,
        state=state if state is not None else DeviceState(),
        bthome_key=key,
        clock_offset=clock_offset,
        demo=demo,
    )


def load(name: str) -> list[dict[str, Any]]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    vectors: list[dict[str, Any]] = data["vectors"]
    for vector in vectors:
        assert vector.get("source"), f"vector {vector['name']!r} names no source"
    return vectors


def vector_context(vector: dict[str, Any], device_id: str = "dev-1") -> DecodeContext:
    ctx_opts = vector.get("context", {})
    state = DeviceState()
    if "cgm_session_start" in ctx_opts:
        state.cgm_session_start = datetime.fromisoformat(ctx_opts["cgm_session_start"])
    offset = ctx_opts.get("clock_offset_s")
    return context(
        state,
        mac=vector.get("mac", MAC),
        key=bytes.fromhex(vector["key"]) if "key" in vector else None,
        clock_offset=timedelta(seconds=offset) if offset is not None else None,
        device_id=device_id,
    )


def run_vector(vector: dict[str, Any], device_id: str = "dev-1") -> list[Observation]:
    ctx = vector_context(vector, device_id)
    if "gatt" in vector:
        return decode_gatt(int(vector["gatt"], 16), bytes.fromhex(vector["hex"]), ctx)
    return decode_advertisement(
        ctx,
        service_data={k: bytes.fromhex(v) for k, v in vector.get("service_data", {}).items()},
        manufacturer_data={
            int(k, 16): bytes.fromhex(v) for k, v in vector.get("manufacturer", {}).items()
        },
    )


def check(obs: Observation, exp: dict[str, Any], where: str) -> None:
    """Compare one observation with its expectation; every field not named has its default."""
    measure = codes()[exp["code"]]
    assert obs.code == list(measure.codings_for(obs.unit)), where
    assert obs.value == exp.get("value"), where
    assert obs.unit == exp.get("unit"), where
    absent = DataAbsentReason(exp["absent"]) if "absent" in exp else None
    assert obs.data_absent_reason == absent, where
    assert obs.value_boolean == exp.get("boolean"), where
    assert obs.value_code == exp.get("event"), where
    expected_components = exp.get("components", [])
    assert len(obs.components) == len(expected_components), where
    for comp, (key, value, third) in zip(obs.components, expected_components, strict=True):
        assert comp.code == list(codes()[key].codings_for(comp.unit)), where
        assert comp.value == value, where
        if value is None:
            assert comp.data_absent_reason == DataAbsentReason(third), where
        else:
            assert comp.unit == third, where
    assert sorted(obs.flags) == sorted(exp.get("flags", [])), where
    assert obs.device_time == exp.get("device_time"), where
    if "effective" in exp:
        assert obs.effective == datetime.fromisoformat(exp["effective"]), where
    elif "device_time" not in exp:
        assert obs.effective == NOW, where
    assert obs.clock_corrected == exp.get("clock_corrected", False), where
    assert obs.body_site == exp.get("body_site"), where
    assert obs.status == exp.get("status", "final"), where
    assert obs.demo == exp.get("demo", False), where
    if "sequence" in exp:
        assert obs.sequence == exp["sequence"], where
    assert obs.source == source(obs.source.device.address, obs.source.device.id), where


def assert_valid(observations: list[Observation], now: datetime = NOW) -> None:
    """Every observation passes the model (re-validated) and the hub's semantic checks."""
    for obs in observations:
        again = Observation.model_validate(obs.model_dump())
        assert again == obs
        assert check_observation(obs, obs.source.publisher, now) == [], obs
