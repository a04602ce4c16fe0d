"""SFLOAT / FLOAT, DateTime, the E2E-CRC and the fast id, against hand-worked values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.decoders import DeviceDateTime, TooShortError, e2e_crc, float32, parse_datetime, sfloat
from edge.decoders.context import fast_observation_id
from schemas.identity import observation_id
from schemas.models import DataAbsentReason
from tests.edge.decoders.helpers import VECTORS

NUMBERS = json.loads((VECTORS / "ieee11073.json").read_text(encoding="utf-8"))


def _expect(case: dict[str, Any]) -> str | DataAbsentReason:
    return DataAbsentReason(case["absent"]) if "absent" in case else case["expect"]


@pytest.mark.parametrize("case", NUMBERS["sfloat"], ids=[c["raw"] for c in NUMBERS["sfloat"]])
def test_sfloat(case: dict[str, Any]) -> None:
    assert sfloat(int(case["raw"], 16)) == _expect(case)


@pytest.mark.parametrize("case", NUMBERS["float32"], ids=[c["raw"] for c in NUMBERS["float32"]])
def test_float32(case: dict[str, Any]) -> None:
    assert float32(int(case["raw"], 16)) == _expect(case)


@given(st.integers(0, 0xFFFF))
def test_sfloat_is_exact(raw: int) -> None:
    """Every SFLOAT equals mantissa * 10**exponent exactly, or is a special value."""
    from decimal import Decimal

    mantissa, exponent = raw & 0x0FFF, raw >> 12
    result = sfloat(raw)
    if mantissa in (0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801):
        assert isinstance(result, DataAbsentReason)
        return
    mantissa -= 0x1000 if mantissa >= 0x800 else 0
    exponent -= 0x10 if exponent >= 0x8 else 0
    assert isinstance(result, str)
    assert Decimal(result) == Decimal(mantissa).scaleb(exponent)
    assert (len(result.split(".")[1]) if "." in result else 0) == max(0, -exponent)


def test_datetime() -> None:
    stamp = parse_datetime(bytes.fromhex("e8070b1c0a0f1e"))
    assert stamp == DeviceDateTime(2024, 11, 28, 10, 15, 30)
    assert stamp.text == "2024-11-28T10:15:30"
    assert stamp.naive() is not None
    assert parse_datetime(bytes(7)).naive() is None
    assert parse_datetime(bytes.fromhex("e8070201180f1e")).naive() is None  # hour 24
    assert parse_datetime(bytes.fromhex("e807021e0a0f1e")).naive() is None  # 30 February
    with pytest.raises(TooShortError):
        parse_datetime(bytes(6))


def test_e2e_crc_check_value() -> None:
    # CRC-16/MCRF4XX check value from the CRC catalogue (reveng): "123456789" -> 0x6F91
    assert e2e_crc(b"123456789") == 0x6F91
    assert e2e_crc(b"") == 0xFFFF


def _crc_msb_first(data: bytes) -> int:
    """An independent CRC-16/MCRF4XX: reflect the bytes, MSB-first 0x1021, reflect the result."""

    def reflect(value: int, width: int) -> int:
        return int(f"{value:0{width}b}"[::-1], 2)

    crc = reflect(0xFFFF, 16)
    for byte in data:
        crc ^= reflect(byte, 8) << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return reflect(crc, 16)


@given(st.binary(max_size=40))
def test_e2e_crc_matches_independent_implementation(data: bytes) -> None:
    assert e2e_crc(data) == _crc_msb_first(data)


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=10))
def test_fast_id_equals_foundation_id(device: str, instant: str, extra: str) -> None:
    args = (device, "urn:hjem:code", "room_temperature", instant, extra)
    assert fast_observation_id(*args) == observation_id(*args)
