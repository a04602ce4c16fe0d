"""Random and mutated bytes into every decoder: observations or a DecodeError, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.decoders import (
    GATT_DECODERS,
    DecodeError,
    DeviceState,
    decode_advertisement,
    decode_gatt,
    parse_racp,
)
from edge.decoders.flags import is_known_flag
from schemas.models import Batch, encode
from schemas.validation import validate_batch
from tests.edge.decoders.helpers import PUBLISHER, assert_valid, context, load, run_vector

SEEDS = [bytes.fromhex(v["hex"]) for v in load("gatt.json") if "expect" in v]
ADV_SEEDS = [
    bytes.fromhex(h)
    for v in load("adverts.json")
    for h in [*v.get("service_data", {}).values(), *v.get("manufacturer", {}).values()]
]
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A known-good value with bytes flipped, cut, inserted or appended."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "append", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut" and data:
            del data[pos]
        elif action == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif action == "append":
            data += draw(st.binary(max_size=4))
        else:
            del data[pos:]
    return bytes(data)


def _check(observations: list) -> None:
    assert_valid(observations)
    for obs in observations:
        assert all(is_known_flag(f) for f in obs.flags), obs.flags


ANY_BYTES = st.one_of(st.binary(max_size=64), mutated(SEEDS))
ANY_ADV = st.one_of(st.binary(max_size=40), mutated(ADV_SEEDS))
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.sampled_from(sorted(GATT_DECODERS)), ANY_BYTES)
def test_gatt_any_bytes(uuid: int, data: bytes) -> None:
    try:
        observations = decode_gatt(uuid, data, context())
    except DecodeError:
        return
    _check(observations)


@SETTINGS
@given(
    st.sampled_from(["fcd2", "181a", "0000fcd2-0000-1000-8000-00805f9b34fb"]),
    ANY_ADV,
    st.booleans(),
)
def test_service_data_any_bytes(uuid: str, data: bytes, with_key: bool) -> None:
    try:
        observations = decode_advertisement(
            context(key=KEY if with_key else None), service_data={uuid: data}
        )
    except DecodeError:
        return
    _check(observations)


@SETTINGS
@given(ANY_ADV)
def test_manufacturer_any_bytes(data: bytes) -> None:
    try:
        observations = decode_advertisement(context(), manufacturer_data={0x0499: data})
    except DecodeError:
        return
    _check(observations)


@SETTINGS
@given(st.binary(max_size=8))
def test_racp_any_bytes(data: bytes) -> None:
    try:
        response = parse_racp(data)
    except DecodeError:
        return
    assert response.opcode in (5, 6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=5), st.integers(0, 3))
def test_state_sequence_never_raises_foreign(values: list[bytes], uuid_index: int) -> None:
    """One device state across many packets, as the agent keeps it."""
    state = DeviceState()
    uuid = sorted(GATT_DECODERS)[uuid_index]
    for data in values:
        try:
            decode_gatt(uuid, data, context(state))
        except DecodeError:
            continue


def test_decoded_observations_pass_validate_batch() -> None:
    """Every vector's observations in one Batch pass the hub's validate_batch unchanged."""
    observations = []
    for index, vector in enumerate(load("gatt.json") + load("adverts.json")):
        if "expect" not in vector:
            continue
        observations += run_vector(vector, device_id=f"dev-{index}")
    ids = {o.id for o in observations}
    assert len(ids) == len(observations), "ids must be unique across different readings"
    batch = Batch(
        message_id="decoders-test-1",
        publisher=PUBLISHER,
        sent=datetime(2026, 11, 28, 12, 0, 1, tzinfo=UTC),
        observations=observations,
    )
    result = validate_batch(
        encode(batch),
        now=datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC),
        expected_publisher=PUBLISHER,
    )
    assert result.errors == []
    assert len(result.accepted) == len(observations)
    assert result.accepted == observations
