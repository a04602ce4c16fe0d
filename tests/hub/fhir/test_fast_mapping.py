"""The FHIR search's mapping (:mod:`hub.fhir.mapping`, built from the reading, decimals as raw
JSON numbers, serialised by msgspec) gives exactly what the PHD mapping of the schema model
gives (:func:`schemas.fhir.observation_resource` with the server identity, written by
:func:`schemas.fhir.bundle_json`): same keys in the same order, same values, same decimal
text. Compared for a reading of every measure of the codes table (with and without a
resident, PHD devices and others), every valid example message (blood pressure components,
a data-absent value, door and fall events, room sensors), and variants (flags, demonstration
data, raw bytes, device times, sequence, body site, a time with an offset, exotic decimals).
The same readings stored in SQLite (in a message and as JSON) and read back page by page by
:func:`hub.store.pages.observation_page` map to the same resources too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.fhir.ids import device_fhir_id
from hub.fhir.resources import fhir_json, instant, observation
from hub.reading import reading_of
from hub.store.base import StoredObservation
from hub.store.pages import ObservationFilter, observation_page
from schemas.builders import make_observation
from schemas.codes import codes
from schemas.fhir import bundle_json, observation_resource
from schemas.models import Batch, DeviceInfo, Observation, Source, encode
from tests.support.hub_db import HubDatabases

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "valid"
T = datetime(2026, 11, 28, 9, 5, 12, 250000, tzinfo=UTC)
RECEIVED = T + timedelta(seconds=3)
PHD_DEVICE = DeviceInfo(
    id="ble-00A050123456",
    address="00:A0:50:12:34:56",
    manufacturer="Example Medical",
    model="X1",
    firmware="1.2.3",
)
PLAIN_DEVICE = DeviceInfo(id="dev-plain")


def reference(obs: Observation, resident: str | None) -> dict[str, Any]:
    """The server's Observation as the PHD mapping of the model gives it (the code the fast
    mapping replaced)."""
    subject = f"Patient/{resident}" if resident else None
    res = observation_resource(obs, subject)
    res.pop("resourceType")
    meta = {**res.pop("meta", {}), "lastUpdated": instant(RECEIVED)}
    res["device"] = {"reference": f"Device/{device_fhir_id(obs.source.device.id)}"}
    return {"resourceType": "Observation", "id": obs.id, "meta": meta, **res}


def _parsed(text: str | bytes) -> Any:
    """JSON with key order kept and numbers as their text (``2.00`` is not ``2.0``)."""
    return json.loads(text, object_pairs_hook=list, parse_float=str, parse_int=str)


def _fast(obs: Observation, resident: str | None) -> bytes:
    stored = StoredObservation(reading_of(obs), "gw-1", resident, RECEIVED)
    return fhir_json(observation(stored, RECEIVED))


VALUES = ("2.00", "0.0000001", "-0", "37.5", "120", "1")
"""Tried in turn for each measure; every one that a measure's range allows is kept
(``0.0000001`` is written ``1E-7`` by the PHD mapping's ``str(Decimal(...))``)."""


def _measure(key: str, i: int, value: str | None) -> Observation | None:
    source = Source(publisher="gw-1", gateway=None if i % 2 else "gw-x", device=PHD_DEVICE)
    extra: dict[str, Any] = {}
    measure = codes()[key]
    if value is None:
        extra = {"value_code": measure.events[0]} if measure.events else {"value_boolean": True}
    try:
        return make_observation(
            key,
            source=source,
            effective=T + timedelta(seconds=i),
            extra=value or "",
            value=value,
            **extra,
        )
    except (ValidationError, ValueError):
        return None


def _measures() -> list[Observation]:
    out = []
    for i, measure in enumerate(codes()):
        values = VALUES if measure.unit else (None,)
        out += [o for o in (_measure(measure.key, i, v) for v in values) if o is not None]
    return out


def _variants() -> list[Observation]:
    base = make_observation(
        "body_temperature",
        source=Source(publisher="gw-1", device=PHD_DEVICE),
        effective=T.astimezone(timezone(timedelta(hours=1))),
        value="36.80",
    )
    changes: list[dict[str, Any]] = [
        {"flags": ["questionable-measurement", "above-hyper", "demonstration-data"]},
        {"demo": True, "status": "preliminary", "sequence": 41},
        {"device_time": "2026-11-28T10:05:11+01:00", "clock_corrected": True},
        {"device_time": "2026-11-28T10:05:11.5"},
        {"device_time": "tick 991"},
        {"raw": {"format": "gatt:2a1c", "data": "0a0b0c"}, "body_site": "left-ear"},
        {"value": None, "unit": None, "data_absent_reason": "error"},
        {"source": Source(publisher="gw-1", gateway="gw-2", device=PLAIN_DEVICE)},
    ]
    data = base.model_dump(exclude_none=True)
    return [
        Observation.model_validate({**data, **change, "id": f"variant-{i}"})
        for i, change in enumerate(changes)
    ]


def _examples() -> list[Observation]:
    out = []
    for path in sorted(EXAMPLES.glob("*.json")):
        message = json.loads(path.read_text(encoding="utf-8"))
        if "observations" in message:
            out += [Observation.model_validate(o) for o in message["observations"]]
    return out


READINGS = _measures() + _variants() + _examples()


def test_the_set_is_varied() -> None:
    keys = {m.key for m in codes()}
    assert {m.key for m in codes() for o in READINGS if o.code[0] == m.primary} == keys
    assert {o.value for o in READINGS} >= set(VALUES)
    assert any(o.components for o in READINGS)
    assert any(c.data_absent_reason for o in READINGS for c in o.components) or any(
        o.data_absent_reason for o in READINGS
    )
    assert any(o.value_boolean is not None for o in READINGS)
    assert any(o.value_code is not None for o in READINGS)


@pytest.mark.parametrize("resident", ["r-anna", None])
def test_fast_mapping_is_the_phd_mapping(resident: str | None) -> None:
    for obs in READINGS:
        expected = bundle_json(reference(obs, resident), indent=None)
        assert _parsed(_fast(obs, resident)) == _parsed(expected), obs.id


def test_pages_read_back_map_to_the_same_resources(hub_dbs: HubDatabases) -> None:
    conn = hub_dbs.open()
    store = hub_dbs.store(conn)  # SQLite's, or PostgreSQL's in the same database
    half = len(READINGS) // 2
    in_message, as_json = READINGS[:half], READINGS[half:]
    batch = Batch(message_id="m-1", publisher="gw-1", sent=T, observations=in_message)
    payload = encode(batch)
    store.write(
        [
            StoredObservation(o, "gw-1", "r-anna", RECEIVED, payload, i)
            for i, o in enumerate(in_message)
        ]
        + [StoredObservation(o, "gw-1", "r-anna", RECEIVED) for o in as_json]
    )
    got: dict[str, bytes] = {}
    after = None
    while True:
        page = observation_page(conn, ObservationFilter(residents=["r-anna"]), after, 7)
        got.update(
            (p.stored.reading.id, fhir_json(observation(p.stored, p.stored.received))) for p in page
        )
        if len(page) < 7:
            break
        after = page[-1].position
    assert sorted(got) == sorted(o.id for o in READINGS)
    for obs in READINGS:
        expected = bundle_json(reference(obs, "r-anna"), indent=None)
        assert _parsed(got[obs.id]) == _parsed(expected), obs.id
