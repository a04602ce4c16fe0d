"""Room-sensor advertisements: RuuviTag RAWv2 and Xiaomi LYWSD03MMC custom firmware.

* RuuviTag data format 5 (https://docs.ruuvi.com/communication/bluetooth-advertisements/
  data-format-5-rawv2): manufacturer id 0x0499, 24 bytes, big-endian; every field has a
  "not available" value, which becomes ``data_absent_reason = unknown``.
* ATC1441 custom format (service data 0x181A, 13 bytes, big-endian) and pvvx custom format
  (service data 0x181A, 15 bytes, little-endian), from the two firmware projects' READMEs.
"""

from __future__ import annotations

from edge.decoders.context import DecodeContext, Emitter, check_length
from edge.decoders.errors import TooShortError, UnknownFormatError
from edge.decoders.ieee11073 import scaled
from schemas.models import DataAbsentReason, Observation

__all__ = ["PVVX_FLAGS", "decode_ruuvi", "decode_xiaomi"]

_NA = DataAbsentReason.UNKNOWN


def _s16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big", signed=True)


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def decode_ruuvi(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """RuuviTag RAWv2 (data format 5) manufacturer data (without the company id)."""
    if not data:
        raise TooShortError("adv:ruuvi", 1, 0, "the data format byte")
    if data[0] != 5:
        raise UnknownFormatError(
            "adv:ruuvi", f"Ruuvi data format {data[0]}; only format 5 (RAWv2) is decoded"
        )
    fmt = "adv:ruuvi-5"
    check_length(fmt, data, 24)
    seq: int | None = _u16(data, 16)
    if seq == 0xFFFF:
        seq = None
    if seq is not None and seq == ctx.state.ruuvi_sequence:
        return []
    temp, humidity, pressure = _s16(data, 1), _u16(data, 3), _u16(data, 5)
    power = _u16(data, 13)
    battery_mv, tx = power >> 5, power & 0x1F
    readings: list[tuple[str, str | DataAbsentReason, str]] = [
        ("room_temperature", _NA if temp == -0x8000 else scaled(temp, 5, 3), "Cel"),
        ("relative_humidity", _NA if humidity == 0xFFFF else scaled(humidity, 25, 4), "%"),
        ("air_pressure", _NA if pressure == 0xFFFF else str(pressure + 50000), "Pa"),
    ]
    for axis, pos in (("x", 7), ("y", 9), ("z", 11)):
        accel = _s16(data, pos)
        readings.append(
            (f"acceleration_{axis}", _NA if accel == -0x8000 else scaled(accel, 1, 3), "[g]")
        )
    readings += [
        ("voltage", _NA if battery_mv == 2047 else scaled(battery_mv + 1600, 1, 3), "V"),
        ("tx_power", _NA if tx == 31 else str(tx * 2 - 40), "dB[mW]"),
        ("movement_counter", _NA if data[15] == 0xFF else str(data[15]), "1"),
    ]
    emit = Emitter(ctx, fmt, data)
    when = emit.receive_time()
    extra = f"seq{seq}" if seq is not None else ""
    out = [
        emit.observation(key, when, value=value, unit=unit, extra=extra, sequence=seq)
        for key, value, unit in readings
    ]
    ctx.state.ruuvi_sequence = seq
    return out


PVVX_FLAGS: tuple[tuple[int, str], ...] = (
    (0x01, "reed-switch"),
    (0x02, "trigger-output"),
    (0x04, "trigger-control"),
    (0x08, "temperature-trigger"),
    (0x10, "humidity-trigger"),
)
"""pvvx custom format flags byte (bits 5-7 unused)."""


def decode_xiaomi(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """LYWSD03MMC custom firmware on service data 0x181A: ATC1441 (13 bytes) or pvvx (15)."""
    if len(data) == 13:
        fmt = "adv:atc1441"
        readings: list[tuple[str, str, str]] = [
            ("room_temperature", scaled(_s16(data, 6), 1, 1), "Cel"),
            ("relative_humidity", str(data[8]), "%"),
            ("battery", str(data[9]), "%"),
            ("voltage", scaled(_u16(data, 10), 1, 3), "V"),
        ]
        counter, flags = data[12], []
    elif len(data) == 15:
        fmt = "adv:pvvx"
        le = int.from_bytes
        readings = [
            ("room_temperature", scaled(le(data[6:8], "little", signed=True), 1, 2), "Cel"),
            ("relative_humidity", scaled(le(data[8:10], "little"), 1, 2), "%"),
            ("voltage", scaled(le(data[10:12], "little"), 1, 3), "V"),
            ("battery", str(data[12]), "%"),
        ]
        counter = data[13]
        flags = [name for bit, name in PVVX_FLAGS if data[14] & bit]
    else:
        raise UnknownFormatError(
            "adv:181a",
            f"{len(data)} bytes of 0x181A service data: neither ATC1441 (13) nor pvvx (15); "
            "encrypted custom formats are not decoded",
        )
    if counter == ctx.state.xiaomi_counter:
        return []
    emit = Emitter(ctx, fmt, data)
    when = emit.receive_time()
    out = [
        emit.observation(key, when, value=value, unit=unit, extra=f"c{counter}", flags=flags)
        for key, value, unit in readings
    ]
    ctx.state.xiaomi_counter = counter
    return out
