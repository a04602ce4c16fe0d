"""The ingest fast path never accepts what the schema models refuse, and agrees when it accepts.

Every test judges the same bytes twice: with :func:`hub.ingest.fastpath.accept` and with
:func:`schemas.validation.validate_batch` (the pydantic models, the authority).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from hub.ingest.fastpath import Accepted, accept, parse_time, to_model
from hub.store.base import StoredObservation
from schemas.builders import component, make_observation
from schemas.codes import codes
from schemas.models import Batch, DeviceInfo, Observation, Source, UtcTime, encode
from schemas.validation import validate_batch
from tests.schemas.factories import NOW, batch, observation

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def agree(payload: bytes, publisher: str = "gw-1", now: datetime = NOW) -> Accepted | None:
    """Judge both ways; if the fast path accepts, the models must accept the same values."""
    fast = accept(payload, now=now, expected_publisher=publisher)
    if fast is None:
        return None
    slow = validate_batch(payload, now=now, expected_publisher=publisher)
    assert slow.errors == [], f"fast path accepted what the models refuse: {slow.errors}"
    assert slow.message_id == fast.message_id
    assert len(slow.accepted) == len(fast.observations)
    for model, wire in zip(slow.accepted, fast.observations, strict=True):
        effective = wire.effective
        assert to_model(wire) == model
        assert effective == model.effective
        assert effective.tzinfo is UTC
    return fast


def test_a_plain_batch_takes_the_fast_path() -> None:
    fast = agree(json.dumps(batch(3)).encode())
    assert fast is not None
    assert [w.id for w in fast.observations] == ["obs-0", "obs-1", "obs-2"]


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_valid_examples_take_the_fast_path(path: Path) -> None:
    data = json.loads(path.read_text())
    now = datetime.fromisoformat(data["sent"]) + timedelta(minutes=1)
    assert agree(path.read_bytes(), data["publisher"], now) is not None


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "invalid").glob("*.json")), ids=lambda p: p.stem
)
def test_invalid_examples_never_take_the_fast_path(path: Path) -> None:
    data = json.loads(path.read_text())
    sent = data.get("sent")
    now = datetime.fromisoformat(sent) if isinstance(sent, str) and sent[-1] == "Z" else NOW
    publisher = path.stem if path.stem == "publisher-mismatch" else data.get("publisher", "gw-1")
    assert accept(path.read_bytes(), now=now, expected_publisher=str(publisher)) is None
    assert validate_batch(path.read_bytes(), now=now, expected_publisher=str(publisher)).errors


def _measure_observation(key: str, source: Source) -> Observation:
    measure = codes()[key]
    at = NOW - timedelta(minutes=5)
    common: dict[str, Any] = {"source": source, "effective": at, "extra": key}  # unique ids
    if measure.kind == "quantity":  # within the measure's possible range (codes.toml)
        low, high = measure.ranges[measure.units[0]]
        return make_observation(key, value=f"{(low + high) / 2:.2f}", **common)
    if measure.kind == "boolean":
        return make_observation(key, value_boolean=True, **common)
    if measure.kind == "event":
        return make_observation(key, value_code=measure.events[0], **common)
    parts = [component(part, "120") for part in measure.components]
    return make_observation(key, components=parts, **common)


def test_every_measure_of_the_codes_table_takes_the_fast_path() -> None:
    source = Source(publisher="gw-1", device=DeviceInfo(id="dev-1", serial="Ærø 7"))
    observations = [_measure_observation(m.key, source) for m in codes()]
    message = Batch(message_id="m-all", publisher="gw-1", sent=NOW, observations=observations)
    fast = agree(encode(message))
    assert fast is not None
    assert len(fast.observations) == len(codes())


_CODED = sorted({(c.system, c.code) for m in codes() for c in m.codings})
_UNITS = sorted({u for m in codes() for u in m.units})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_CODED), min_size=1, max_size=4, unique=True),
    st.sampled_from(_UNITS),
)
def test_code_unit_pairs_agree_and_never_pass_what_the_table_disallows(
    coded: list[tuple[str, str]], unit: str
) -> None:
    """Any codes of the table with any unit of the table (issue 14): the fast path never
    accepts a pair the models refuse, and neither accepts a code that disallows the unit."""
    obs = observation(value="1", unit=unit)
    obs["code"] = [{"system": s, "code": c} for s, c in coded]
    payload = json.dumps(batch(observations=[obs])).encode()
    fast = agree(payload)
    slow = validate_batch(payload, now=NOW, expected_publisher="gw-1")
    first_ours = coded[0][0] in ("urn:iso:std:iso:11073:10101", "urn:hjem:code")
    disallowed = [i for i, (s, c) in enumerate(coded) if unit not in (codes().units_of(s, c) or ())]
    if disallowed:
        assert fast is None
        assert slow.errors
    if disallowed and not first_ours:  # a first code of Hjem's own is judged with its range
        named = {e.path.rsplit(".code[", 1)[-1] for e in slow.errors}
        assert {f"{i}].code" for i in disallowed} == named


def _rich() -> dict[str, Any]:
    """A batch that uses every optional field of an observation."""
    obs = observation(
        0,
        device_time="2026-11-28T08:59:00",
        clock_corrected=True,
        sequence=7,
        body_site="finger",
        status="preliminary",
        flags=["device-moved"],
        raw={"format": "gatt:2a5f", "data": "00ff10"},
        demo=True,
    )
    obs["source"]["device"].update(
        serial="S-1", manufacturer="M", model="X", firmware="1.0", system_id="711000FEFF5F49B0"
    )
    event = observation(
        1,
        code=[{"system": "urn:hjem:code", "code": "button"}],
        value=None,
        unit=None,
        value_code="press",
    )
    del event["value"], event["unit"]
    return batch(1) | {"observations": [obs, event]}


NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from("aZ09-_.:/ \t\n\x00é٣\u2028$^"), max_size=10),
    st.sampled_from(
        [
            "",
            "36.60",
            "036.6",
            "1e3",
            " 36.6",
            "36.6\n",
            "2026-11-28T08:59:00+02:00",
            "2026-11-28T08:59:00",
            "2026-11-28 08:59:00Z",
            "2026-11-28T08:59:00.1234567Z",
            "2026-11-28t08:59:00z",
            "1999-12-31T23:59:59Z",
            "2026-02-30T08:00:00Z",
            "Cel",
            "mm[Hg]",
            "final",
            "press",
            "x" * 129,
        ]
    ),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["system", "code", "id", "x"]), st.text(max_size=4)),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    doc = _rich()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "replace":
            parent[path[-1]] = draw(NASTY)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Id", "value ", "schema_"]))] = draw(NASTY)
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_are_never_accepted_against_the_models(payload: bytes) -> None:
    agree(payload)


def test_the_unmutated_rich_message_takes_the_fast_path() -> None:
    fast = agree(json.dumps(_rich()).encode())
    assert fast is not None
    assert fast.observations[1].value_code == "press"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"publisher": "gw-2"}, "another sender"),
        ({"sent": "2026-11-28T10:00:00Z"}, "sent in the future"),
        ({"message_id": "m 1"}, "bad id"),
        ({"schema": "hjem/2"}, "unknown schema"),
        ({"observations": []}, "empty"),
    ],
)
def test_envelope_problems_decline(change: dict[str, Any], why: str) -> None:
    doc = batch(2) | change
    assert accept(json.dumps(doc).encode(), now=NOW, expected_publisher="gw-1") is None, why


def test_semantic_problems_decline() -> None:
    cases = [
        observation(0, unit="kg"),  # wrong unit for SpO2
        observation(0, effective="2026-11-28T09:30:00Z"),  # future
        observation(0, effective="1999-01-01T00:00:00Z"),  # clock never set
        observation(0, source={"publisher": "gw-9", "device": {"id": "d"}}),  # impostor
    ]
    for obs in cases:
        doc = batch(1) | {"observations": [obs]}
        assert agree(json.dumps(doc).encode()) is None
        assert validate_batch(json.dumps(doc).encode(), now=NOW, expected_publisher="gw-1").errors
    twice = batch(1) | {"observations": [observation(0), observation(0)]}
    assert accept(json.dumps(twice).encode(), now=NOW, expected_publisher="gw-1") is None


def test_times_beyond_the_calendar_decline_without_raising() -> None:
    for effective in ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"):
        doc = batch(1) | {"observations": [observation(0, effective=effective)]}
        assert accept(json.dumps(doc).encode(), now=NOW, expected_publisher="gw-1") is None
        assert validate_batch(json.dumps(doc).encode(), now=NOW, expected_publisher="gw-1").errors


def test_oversized_messages_decline() -> None:
    doc = batch(1)
    doc["observations"][0]["device_time"] = "x" * 100
    payload = json.dumps(doc).encode()
    assert accept(payload + b" " * (256 * 1024), now=NOW, expected_publisher="gw-1") is None


UTC_TIME: TypeAdapter[datetime] = TypeAdapter(UtcTime)


@settings(max_examples=400, deadline=None)
@example("0001-01-01T00:00:00+00:01")  # before year 1 in UTC: must decline, not raise
@example("9999-12-31T23:59:59-01:00")  # after year 9999 in UTC
@example("2026-11-28T08:00:00-00:60")  # an offset pydantic refuses
@example("2026-11-28T08:00:00+23:59")
@given(
    st.one_of(
        st.from_regex(
            r"\A[0-9]{4}-[0-1][0-9]-[0-3][0-9][T t][0-2][0-9]:[0-6][0-9]:[0-6][0-9]"
            r"(\.[0-9]{0,8})?([Zz]|[+-][0-9]{2}:?[0-9]{2})?\Z"
        ),
        st.text(max_size=30),
    )
)
def test_times_parse_as_the_models_parse_them(text: str) -> None:
    mine = parse_time(text)
    if mine is None:
        return
    theirs = UTC_TIME.validate_json(json.dumps(text))
    assert mine == theirs
    assert mine.utcoffset() == timedelta(0)


def test_stored_items_of_the_fast_path_read_like_model_items() -> None:
    fast = agree(json.dumps(_rich()).encode())
    assert fast is not None
    wire = fast.observations[0]
    item = StoredObservation(wire, "gw-1", "r-1", NOW)
    model = to_model(wire)
    same = StoredObservation(model, "gw-1", "r-1", NOW)
    assert (item.id, item.device_id, item.code) == (model.id, "ble-AABBCCDDEEFF", "150456")
    assert item.effective_us == same.effective_us
    assert item.observation == model
    assert item == same
    assert same.reading == wire  # a model given is turned into the same reading


def _decoded_vectors() -> list[tuple[str, list[Observation]]]:
    from tests.edge.decoders.helpers import load, run_vector

    return [
        (vector["name"], run_vector(vector))
        for name in ("gatt.json", "adverts.json")
        for vector in load(name)
        if "error" not in vector
    ]


def test_what_hjem_gateways_decode_takes_the_fast_path() -> None:
    """Every decoder vector's observations, as the edge publishes them: valid means fast."""
    from tests.edge.decoders.helpers import NOW as DECODED_AT
    from tests.edge.decoders.helpers import PUBLISHER

    fast_ones = 0
    for name, observations in _decoded_vectors():
        if not observations:
            continue
        message = Batch(
            message_id="m-1", publisher=PUBLISHER, sent=DECODED_AT, observations=observations
        )
        payload = encode(message)
        now = DECODED_AT + timedelta(minutes=1)
        slow = validate_batch(payload, now=now, expected_publisher=PUBLISHER)
        fast = agree(payload, PUBLISHER, now)
        if not slow.errors:
            assert fast is not None, f"{name}: valid, but not accepted by the fast path"
            fast_ones += 1
    assert fast_ones >= 120  # all 127 decoded vectors at the time of writing


def test_decoded_structs_are_not_tracked_by_the_cyclic_collector() -> None:
    import gc

    fast = agree(json.dumps(batch(2)).encode())
    assert fast is not None
    wire = fast.observations[0]
    parts = [wire, wire.source, wire.source.device, *wire.code]
    assert [gc.is_tracked(p) for p in parts] == [False] * len(parts)
