from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import schemas
from schemas import Batch, Observation, encode, observation_id
from schemas.builders import component, make_observation
from schemas.models import DeviceInfo, Source

from .factories import batch, observation

SOURCE = Source(
    publisher="gw-1",
    gateway="gw-1",
    device=DeviceInfo(id="ble-AABBCCDDEEFF", address="AA:BB:CC:DD:EE:FF"),
)


def test_public_names_are_listed_and_importable() -> None:
    for name in schemas.__all__:
        assert hasattr(schemas, name), name
    assert "Observation" in schemas.__all__
    assert len(set(schemas.__all__)) == len(schemas.__all__)


def test_value_keeps_precision_through_json() -> None:
    obs = Observation.model_validate(observation(value="2.00"))
    again = Observation.model_validate_json(encode(obs))
    assert again.value == "2.00"
    assert json.loads(encode(obs))["value"] == "2.00"


def test_wire_form_uses_schema_alias_and_omits_nulls() -> None:
    wire = json.loads(encode(Batch.model_validate(batch())))
    assert wire["schema"] == "hjem/1"
    assert "device_time" not in wire["observations"][0]


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"value": None}, "exactly one"),
        ({"unit": None}, "UCUM unit"),
        ({"value": "1e5"}, "pattern"),
        ({"value": "01.5"}, "pattern"),
        (
            {"value": None, "unit": None, "value_boolean": True, "data_absent_reason": "error"},
            "exactly one",
        ),
        ({"value": None, "value_boolean": True}, "only allowed together with value"),
        ({"effective": "2026-11-28T08:59:00"}, "UTC offset"),
        ({"id": "has space"}, "pattern"),
        ({"extra_field": 1}, "Extra inputs"),
        ({"data_absent_reason": "sometimes", "value": None, "unit": None}, "Input should be"),
    ],
)
def test_invalid_observations_name_the_problem(over: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        Observation.model_validate(observation(**over))
    assert needle in str(info.value)


def test_effective_is_normalised_to_utc() -> None:
    obs = Observation.model_validate(observation(effective="2026-11-28T10:00:00+01:00"))
    assert obs.effective == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert obs.effective.utcoffset() is not None


def test_observation_id_is_stable_and_distinguishes_inputs() -> None:
    a = observation_id("dev", "sys", "150456", "2026-11-28T09:00:00", "")
    assert a == observation_id("dev", "sys", "150456", "2026-11-28T09:00:00", "")
    assert a != observation_id("dev", "sys", "150456", "2026-11-28T09:00:01", "")
    assert a != observation_id("dev2", "sys", "150456", "2026-11-28T09:00:00", "")
    assert len(a) == 32
    assert int(a, 16) >= 0  # hexadecimal


def test_builder_takes_codes_and_unit_from_the_table() -> None:
    obs = make_observation(
        "body_temperature",
        source=SOURCE,
        effective=datetime(2026, 11, 28, tzinfo=UTC),
        value="37.20",
    )
    assert obs.unit == "Cel"
    assert [c.system for c in obs.code] == [
        "urn:iso:std:iso:11073:10101",
        "http://loinc.org",
        "urn:oid:1.2.208.176.2.1",
    ]
    assert obs.code[0].code == "150364"


def test_compound_blood_pressure() -> None:
    obs = make_observation(
        "blood_pressure",
        source=SOURCE,
        effective=datetime(2026, 11, 28, tzinfo=UTC),
        components=[
            component("blood_pressure_systolic", "120"),
            component("blood_pressure_diastolic", "80"),
            component("blood_pressure_mean", None, absent=schemas.DataAbsentReason.NOT_A_NUMBER),
        ],
    )
    assert [c.unit for c in obs.components] == ["mm[Hg]", "mm[Hg]", None]
    assert obs.components[2].data_absent_reason == "not-a-number"


decimals = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=3)


@given(
    value=decimals,
    flags=st.lists(st.sampled_from(["cuff-loose", "irregular-pulse"]), max_size=2),
    demo=st.booleans(),
)
def test_round_trip_model_json_model(value: object, flags: list[str], demo: bool) -> None:
    text = format(value, "f")
    if text.startswith("-0") and text.strip("-0.") == "":
        text = text.lstrip("-")
    obs = Observation.model_validate(observation(value=text, flags=flags, demo=demo))
    assert Observation.model_validate_json(encode(obs)) == obs
    b = Batch.model_validate(batch())
    assert Batch.model_validate_json(encode(b)) == b
