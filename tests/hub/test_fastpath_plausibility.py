"""Possible ranges and repeated keys: the fast path never accepts what the models refuse.

Issue 15, finding 12. Ranges come from ``schemas/codes.toml``; both paths run the same
semantic checks (:mod:`schemas.code_rules`). Repeated keys: the models name the key and its
path, the fast path declines (:mod:`hub.ingest.fastpath_keys`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.ingest.fastpath import accept
from hub.ingest.fastpath_keys import has_no_duplicate_keys
from schemas.builders import component, make_observation
from schemas.codes import codes
from schemas.models import Batch, DeviceInfo, Source, encode
from schemas.validation import validate_batch
from tests.hub.test_fastpath import NASTY, _paths, _rich, agree
from tests.schemas.factories import NOW

SOURCE = Source(publisher="gw-1", device=DeviceInfo(id="dev-1"))


def _message(key: str, **fields: Any) -> bytes:
    obs = make_observation(key, source=SOURCE, effective=NOW - timedelta(minutes=1), **fields)
    return encode(Batch(message_id="m-1", publisher="gw-1", sent=NOW, observations=[obs]))


DECIMALS = st.decimals(
    min_value=Decimal("-1e19"), max_value=Decimal("1e19"), places=2, allow_nan=False
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from([m.key for m in codes() if m.kind == "quantity"]), value=DECIMALS)
def test_values_are_accepted_exactly_within_the_possible_range(key: str, value: Decimal) -> None:
    measure = codes()[key]
    unit = measure.units[-1]
    low, high = measure.ranges[unit]
    payload = _message(key, value=f"{value:.2f}", unit=unit)
    possible = low <= float(f"{value:.2f}") <= high
    assert (agree(payload) is not None) == possible
    slow = validate_batch(payload, now=NOW, expected_publisher="gw-1")
    assert (slow.errors == []) == possible
    if not possible:
        [error] = slow.errors
        assert error.path == "$.observations[0].value"
        assert f"outside the possible range {low:g} to {high:g} {unit}" in error.reason


def test_a_body_temperature_of_1e20_is_refused_on_both_paths() -> None:
    payload = _message("body_temperature", value="99999999999999999999")  # ~1e20
    assert accept(payload, now=NOW, expected_publisher="gw-1") is None
    [error] = validate_batch(payload, now=NOW, expected_publisher="gw-1").errors
    assert error.path == "$.observations[0].value"
    assert "outside the possible range 25 to 45 Cel" in error.reason
    assert "Body temperature" in error.reason


def test_compound_components_are_checked_against_their_ranges() -> None:
    def bp(systolic: str, unit: str | None = None) -> bytes:
        parts = [
            component("blood_pressure_systolic", systolic, unit),
            component("blood_pressure_diastolic", "80"),
        ]
        return _message("blood_pressure", components=parts)

    assert agree(bp("120")) is not None
    for payload, field in ((bp("900"), "value"), (bp("120", "Cel"), "unit")):
        assert accept(payload, now=NOW, expected_publisher="gw-1") is None
        [error] = validate_batch(payload, now=NOW, expected_publisher="gw-1").errors
        assert error.path == f"$.observations[0].components[0].{field}"


def _dumps(node: Any, target: int, key: str, value: Any) -> str:
    """JSON of ``node`` with ``key`` given twice in the object ``target`` (first ``value``)."""
    if isinstance(node, dict):
        pairs = list(node.items())
        if id(node) == target:
            pairs.insert(0, (key, value))
        inner = ", ".join(f"{json.dumps(k)}: {_dumps(v, target, key, value)}" for k, v in pairs)
        return "{" + inner + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_dumps(v, target, key, value) for v in node) + "]"
    return json.dumps(node)


def _node(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _objects(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [p for p in _paths(doc) if isinstance(_node(doc, p), dict) and _node(doc, p)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_repeated_key_anywhere_is_refused_naming_it(data: st.DataObject) -> None:
    doc = _rich()
    path = data.draw(st.sampled_from(_objects(doc)))
    obj = _node(doc, path)
    key = data.draw(st.sampled_from(sorted(obj)))
    first = data.draw(st.one_of(st.just(obj[key]), NASTY))
    payload = _dumps(doc, id(obj), key, first).encode()
    assert accept(payload, now=NOW, expected_publisher="gw-1") is None
    assert not has_no_duplicate_keys(payload)
    errors = validate_batch(payload, now=NOW, expected_publisher="gw-1").errors
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert any(e.path == f"{where}.{key}" and "more than once" in e.reason for e in errors), errors


def test_without_repeats_the_key_check_passes_whatever_the_layout() -> None:
    doc = _rich()
    for text in (json.dumps(doc), json.dumps(doc, indent=2), json.dumps(doc, ensure_ascii=False)):
        assert has_no_duplicate_keys(text.encode())
    tricky = json.dumps(doc).replace('"S-1"', '"S\\"-1: \\"x\\": 2"').encode()
    assert has_no_duplicate_keys(tricky)
