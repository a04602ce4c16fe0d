"""Every flag combination of every GATT characteristic, built by a small independent encoder.

For each combination the test writes the fields the flags announce (from fixed values),
decodes, and compares the observations with those values; then it drops a byte (must give
TooShortError) and adds one (TrailingBytesError, or TooShortError where the byte would begin
a further variable-length field).
"""

from __future__ import annotations

import struct

import pytest

from edge.decoders import TooShortError, TrailingBytesError, decode_gatt
from schemas.models import Observation
from tests.edge.decoders.helpers import assert_valid, context

STAMP = bytes.fromhex("e8070b1c0a0f1e")  # 2024-11-28 10:15:30


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _summary(observations: list[Observation]) -> list[tuple[str, str | None, str | None]]:
    return [(o.code[0].display or o.code[0].code, o.value, o.unit) for o in observations]


def _decode_and_mutate(uuid: int, data: bytes, trailing: type[Exception]) -> list[Observation]:
    observations = decode_gatt(uuid, data, context())
    assert_valid(observations)
    with pytest.raises(TooShortError):
        decode_gatt(uuid, data[:-1], context())
    with pytest.raises(trailing):
        decode_gatt(uuid, data + b"\x00", context())
    return observations


@pytest.mark.parametrize("flags", range(32))
def test_heart_rate(flags: int) -> None:
    rate = 300 if flags & 0x01 else 72
    data = bytes([flags]) + (_u16(rate) if flags & 0x01 else bytes([rate]))
    data += _u16(16) if flags & 0x08 else b""
    data += _u16(1024) + _u16(512) if flags & 0x10 else b""
    trailing = TooShortError if flags & 0x10 else TrailingBytesError
    out = _decode_and_mutate(0x2A37, data, trailing)
    expected = [("Heart rate", str(rate), "/min")]
    expected += [("Energy expended", "16", "kJ")] if flags & 0x08 else []
    expected += (
        [("RR interval", "1000", "ms"), ("RR interval", "500", "ms")] if flags & 0x10 else []
    )
    assert _summary(out) == expected
    contact = {2: ["sensor-contact-lost"], 3: ["sensor-contact"]}.get((flags >> 1) & 3, [])
    assert out[0].flags == contact


@pytest.mark.parametrize("flags", range(8))
def test_temperature(flags: int) -> None:
    # 97.5 [degF] or 36.4 Cel: each within the possible body temperatures (codes.toml)
    value, shown = ("cf0300ff", "97.5") if flags & 0x01 else ("6c0100ff", "36.4")
    data = bytes([flags]) + bytes.fromhex(value)
    data += STAMP if flags & 0x02 else b""
    data += b"\x04" if flags & 0x04 else b""
    (obs,) = _decode_and_mutate(0x2A1C, data, TrailingBytesError)
    assert (obs.value, obs.unit) == (shown, "[degF]" if flags & 0x01 else "Cel")
    assert obs.device_time == ("2024-11-28T10:15:30" if flags & 0x02 else None)
    assert obs.body_site == ("finger" if flags & 0x04 else None)


@pytest.mark.parametrize("flags", range(32))
def test_blood_pressure(flags: int) -> None:
    # 121/81/106 mm[Hg], or 16/11/14 kPa: possible pressures either way (codes.toml)
    pressures = ("16", "11", "14") if flags & 0x01 else ("121", "81", "106")
    data = bytes([flags]) + b"".join(_u16(int(p)) for p in pressures)
    data += STAMP if flags & 0x02 else b""
    data += _u16(72) if flags & 0x04 else b""
    data += b"\x03" if flags & 0x08 else b""
    data += _u16(0x0001) if flags & 0x10 else b""
    out = _decode_and_mutate(0x2A35, data, TrailingBytesError)
    unit = "kPa" if flags & 0x01 else "mm[Hg]"
    assert [(c.value, c.unit) for c in out[0].components] == [(p, unit) for p in pressures]
    assert len(out) == (2 if flags & 0x04 else 1)
    if flags & 0x04:
        assert (out[1].value, out[1].unit) == ("72", "/min")
    expected_flags = (["user-3"] if flags & 0x08 else []) + (
        ["body-movement"] if flags & 0x10 else []
    )
    assert all(o.flags == expected_flags for o in out)
    assert all(o.device_time == ("2024-11-28T10:15:30" if flags & 0x02 else None) for o in out)


@pytest.mark.parametrize("flags", range(16))
def test_weight(flags: int) -> None:
    imperial = bool(flags & 0x01)
    data = bytes([flags]) + _u16(12960)
    data += STAMP if flags & 0x02 else b""
    data += b"\x03" if flags & 0x04 else b""
    data += _u16(225) + _u16(676 if imperial else 1716) if flags & 0x08 else b""
    out = _decode_and_mutate(0x2A9D, data, TrailingBytesError)
    expected = [
        ("Body weight", "129.60" if imperial else "64.800", "[lb_av]" if imperial else "kg")
    ]
    if flags & 0x08:
        expected += [
            ("Body mass index", "22.5", "kg/m2"),
            ("Body height", "67.6" if imperial else "1.716", "[in_i]" if imperial else "m"),
        ]
    assert _summary(out) == expected
    assert all(o.flags == (["user-3"] if flags & 0x04 else []) for o in out)


@pytest.mark.parametrize("flags", range(32))
def test_plx_spot_check(flags: int) -> None:
    data = bytes([flags]) + _u16(98) + _u16(72)
    data += STAMP if flags & 0x01 else b""
    data += _u16(0x0080) if flags & 0x02 else b""
    data += bytes.fromhex("200000") if flags & 0x04 else b""
    data += bytes.fromhex("2cf0") if flags & 0x08 else b""
    out = _decode_and_mutate(0x2A5E, data, TrailingBytesError)
    expected = [("Oxygen saturation (SpO2)", "98", "%"), ("Pulse rate (oximeter)", "72", "/min")]
    expected += [("Pulse amplitude index", "4.4", "%")] if flags & 0x08 else []
    assert _summary(out) == expected
    status = (["validated"] if flags & 0x02 else []) + (["low-perfusion"] if flags & 0x04 else [])
    clock = ["device-clock-not-set"] if flags & 0x10 else []
    assert sorted(out[0].flags) == sorted(status + clock)
    if flags & 0x01 and not flags & 0x10:
        assert out[0].effective.isoformat() == "2024-11-28T09:15:30+00:00"


@pytest.mark.parametrize("flags", range(32))
def test_plx_continuous(flags: int) -> None:
    data = bytes([flags]) + _u16(98) + _u16(72)
    data += _u16(97) + _u16(73) if flags & 0x01 else b""
    data += _u16(99) + _u16(71) if flags & 0x02 else b""
    data += _u16(0x0100) if flags & 0x04 else b""
    data += bytes.fromhex("000200") if flags & 0x08 else b""
    data += bytes.fromhex("2cf0") if flags & 0x10 else b""
    out = _decode_and_mutate(0x2A5F, data, TrailingBytesError)
    values = [("98", "%"), ("72", "/min")]
    values += [("97", "%"), ("73", "/min")] if flags & 0x01 else []
    values += [("99", "%"), ("71", "/min")] if flags & 0x02 else []
    values += [("4.4", "%")] if flags & 0x10 else []
    assert [(o.value, o.unit) for o in out] == values
    status = (["fully-qualified"] if flags & 0x04 else []) + (
        ["signal-analysis-ongoing"] if flags & 0x08 else []
    )
    assert out[0].flags == status


@pytest.mark.parametrize("flags", range(32))
def test_glucose(flags: int) -> None:
    data = bytes([flags]) + _u16(7) + STAMP
    data += _u16(30) if flags & 0x01 else b""
    data += bytes.fromhex("78b011") if flags & 0x02 else b""
    data += _u16(0x0001) if flags & 0x08 else b""
    (obs,) = _decode_and_mutate(0x2A18, data, TrailingBytesError)
    assert obs.sequence == 7
    if flags & 0x02:
        expected = ("1.20", "mmol/L") if flags & 0x04 else ("120", "mg/dL")
        assert (obs.value, obs.unit) == expected
        assert obs.body_site == "finger"
    else:
        assert obs.value is None
        assert obs.data_absent_reason is not None
    assert obs.device_time == "2024-11-28T10:15:30" + (" +30min" if flags & 0x01 else "")
    minute = 45 if flags & 0x01 else 15
    assert obs.effective.isoformat() == f"2024-11-28T09:{minute}:30+00:00"
    expected_flags = (["battery-low"] if flags & 0x08 else []) + (
        ["context-follows"] if flags & 0x10 else []
    )
    assert obs.flags == expected_flags


def _cgm_record(flags: int, crc: bool) -> bytes:
    from tests.edge.decoders.test_numbers import _crc_msb_first

    body = bytes([flags]) + _u16(120) + _u16(5)
    body += b"\x01" if flags & 0x20 else b""  # warning: below-patient-low
    body += b"\x02" if flags & 0x40 else b""  # cal/temp: calibration-not-allowed
    body += b"\x02" if flags & 0x80 else b""  # status: battery-low
    body += bytes.fromhex("fbff") if flags & 0x01 else b""
    body += _u16(90) if flags & 0x02 else b""
    record = bytes([len(body) + 1 + (2 if crc else 0)]) + body
    return record + (_u16(_crc_msb_first(record)) if crc else b"")


CGM_FLAGS = [
    sum(bit for i, bit in enumerate((0x01, 0x02, 0x20, 0x40, 0x80)) if n >> i & 1)
    for n in range(32)
]


@pytest.mark.parametrize("crc", [False, True])
@pytest.mark.parametrize("flags", CGM_FLAGS)
def test_cgm(flags: int, crc: bool) -> None:
    data = _cgm_record(flags, crc)
    out = decode_gatt(0x2AA7, data, context())
    assert_valid(out)
    values = [("120", "mg/dL")]
    values += [("-0.5", "mg/dL/min")] if flags & 0x01 else []
    values += [("90", "%")] if flags & 0x02 else []
    assert [(o.value, o.unit) for o in out] == values
    expected_flags = (
        (["below-patient-low"] if flags & 0x20 else [])
        + (["calibration-not-allowed"] if flags & 0x40 else [])
        + (["battery-low"] if flags & 0x80 else [])
    )
    assert out[0].flags == expected_flags
    # the size byte must agree with the data, and a CRC must match
    with pytest.raises(TooShortError):
        decode_gatt(0x2AA7, data[:-1], context())
    if crc:
        corrupted = data[:3] + bytes([data[3] ^ 0x01]) + data[4:]
        from edge.decoders import CrcError

        with pytest.raises(CrcError):
            decode_gatt(0x2AA7, corrupted, context())
