from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import MAX_OBSERVATIONS_PER_BATCH, MAX_PAYLOAD_BYTES, validate_batch

from .factories import NOW, batch, observation


def _v(doc: object, **kw: object) -> object:
    return validate_batch(json.dumps(doc).encode(), now=NOW, **kw)  # type: ignore[arg-type]


def test_valid_batch_is_accepted_whole() -> None:
    result = validate_batch(json.dumps(batch(3)).encode(), now=NOW)
    assert [o.id for o in result.accepted] == ["obs-0", "obs-1", "obs-2"]
    assert result.errors == []
    assert result.message_id == "m-1"


def test_partly_valid_batch_keeps_the_valid_observations() -> None:
    doc = batch(3)
    doc["observations"][1]["value"] = 97  # a JSON number: precision would be lost
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert [o.id for o in result.accepted] == ["obs-0", "obs-2"]
    assert [e.path for e in result.errors] == ["$.observations[1].value"]
    assert result.errors[0].observation_id == "obs-1"
    assert result.rejected_count == 1
    assert not result.rejected_whole


def test_bad_envelope_rejects_the_whole_message() -> None:
    doc = batch(2)
    doc["sent"] = "yesterday"
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert result.accepted == []
    assert result.rejected_whole
    assert result.errors[0].path == "$.sent"


def test_publisher_must_match_sender() -> None:
    result = validate_batch(
        json.dumps(batch(1, publisher="gw-2")).encode(), now=NOW, expected_publisher="gw-1"
    )
    assert result.accepted == []
    assert result.errors[0].path == "$.publisher"
    assert "does not match" in result.errors[0].reason


def test_observation_of_another_publisher_is_rejected() -> None:
    doc = batch(2)
    doc["observations"][0]["source"]["publisher"] = "gw-9"
    result = validate_batch(json.dumps(doc).encode(), now=NOW, expected_publisher="gw-1")
    assert [o.id for o in result.accepted] == ["obs-1"]
    assert result.errors[0].path == "$.observations[0].source.publisher"


def test_future_and_unset_clock_times_are_rejected() -> None:
    doc = batch(0)
    doc["observations"] = [
        observation(0, effective=(NOW + timedelta(hours=2)).isoformat()),
        observation(1, effective="1970-01-01T00:00:00Z"),
        observation(2, effective=(NOW + timedelta(minutes=5)).isoformat()),
    ]
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert [o.id for o in result.accepted] == ["obs-2"]
    reasons = {e.path: e.reason for e in result.errors}
    assert "future" in reasons["$.observations[0].effective"]
    assert "clock not set" in reasons["$.observations[1].effective"]


def test_times_outside_the_calendar_in_utc_are_errors_not_exceptions() -> None:
    doc = batch(0)
    doc["observations"] = [
        observation(0, effective="0001-01-01T00:00:00+00:01"),
        observation(1, effective="9999-12-31T23:59:59-01:00"),
        observation(2),
    ]
    doc["sent"] = "0001-01-01T00:30:00+01:00"
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert result.accepted == []
    assert result.errors[0].path == "$.sent"
    assert "years 1-9999" in result.errors[0].reason
    doc["sent"] = "2026-11-28T09:00:00Z"
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert [o.id for o in result.accepted] == ["obs-2"]
    reasons = {e.path: e.reason for e in result.errors}
    assert "years 1-9999" in reasons["$.observations[0].effective"]
    assert "years 1-9999" in reasons["$.observations[1].effective"]


def test_duplicate_ids_within_a_message() -> None:
    doc = batch(2)
    doc["observations"][1]["id"] = "obs-0"
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert len(result.accepted) == 1
    assert result.errors[0].path == "$.observations[1].id"


def test_unknown_hjem_code_and_wrong_event() -> None:
    doc = batch(0)
    doc["observations"] = [
        observation(0, code=[{"system": "urn:hjem:code", "code": "teleportation"}]),
        observation(
            1,
            code=[{"system": "urn:hjem:code", "code": "button"}],
            value=None,
            unit=None,
            value_code="explode",
        ),
        observation(
            2, code=[{"system": "http://vendor.example/codes", "code": "x1"}], unit="1", value="5"
        ),
    ]
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert [o.id for o in result.accepted] == ["obs-2"]  # foreign systems are not ours to judge
    paths = [e.path for e in result.errors]
    assert paths == ["$.observations[0].code[0].code", "$.observations[1].value_code"]


def test_size_and_count_bounds() -> None:
    big = b'{"pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    result = validate_batch(big, now=NOW)
    assert result.errors[0].path == "$"
    assert "at most" in result.errors[0].reason
    many = batch(1)
    many["observations"] = [observation(i) for i in range(MAX_OBSERVATIONS_PER_BATCH + 1)]
    payload = json.dumps(many, separators=(",", ":")).encode()
    if len(payload) <= MAX_PAYLOAD_BYTES:
        result = validate_batch(payload, now=NOW)
        assert result.errors[0].path == "$.observations"
    else:
        assert validate_batch(payload, now=NOW).errors[0].path == "$"


def test_hostile_inputs_give_errors_not_exceptions() -> None:
    cases: list[bytes] = [
        b"",
        b"\xff\xfe\x00",
        b"null",
        b"[]",
        b"42",
        b'"str"',
        b"{",
        b"NaN",
        b"[" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        json.dumps(batch(1, sent="9999-12-31T23:59:59Z")).encode(),
        json.dumps(batch(1) | {"observations": [observation(0, value="1" * 10_000)]}).encode(),
        json.dumps(batch(1) | {"observations": [{"id": 10**400}]}).encode(),
        json.dumps(batch(1) | {"observations": [observation(0, sequence=10**30)]}).encode(),
        json.dumps(batch(1) | {"observations": "all of them"}).encode(),
    ]
    for payload in cases:
        result = validate_batch(payload, now=NOW)
        assert result.errors, payload[:40]
        assert all(e.path.startswith("$") and e.reason for e in result.errors)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = validate_batch(data, now=NOW)
    assert result.errors or result.accepted


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(
        [
            "id",
            "source",
            "code",
            "effective",
            "value",
            "unit",
            "flags",
            "components",
            "raw",
            "sequence",
            "device_time",
        ]
    ),
    garbage=json_values,
)
def test_garbage_in_any_field_is_an_error_with_its_path(field: str, garbage: object) -> None:
    doc = batch(2)
    doc["observations"][0][field] = garbage
    result = validate_batch(json.dumps(doc).encode(), now=NOW)
    assert "obs-1" in [o.id for o in result.accepted]  # the valid neighbour survives
    for err in result.errors:
        assert err.path.startswith("$.observations[0]")
