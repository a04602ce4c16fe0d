"""Glucose Measurement 0x2A18 and CGM Measurement 0x2AA7 (with its E2E-CRC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.decoders.context import DecodeContext, Emitter, TimeInfo, check_length
from edge.decoders.errors import (
    CrcError,
    InvalidValueError,
    ReservedFlagError,
    TooShortError,
    TrailingBytesError,
)
from edge.decoders.gatt_vitals import flags_byte
from edge.decoders.ieee11073 import decimal_string, sfloat_parts
from edge.decoders.reader import Reader
from schemas.models import DataAbsentReason, Observation
from schemas.validation import EARLIEST_EFFECTIVE, MAX_CLOCK_SKEW

__all__ = [
    "CGM_FLAGS",
    "GLUCOSE_ANNUNCIATION_FLAGS",
    "GLUCOSE_LOCATIONS",
    "GLUCOSE_TYPES",
    "cgm_measurement",
    "e2e_crc",
    "glucose",
]

GLUCOSE_TYPES: dict[int, str] = {
    1: "glucose_capillary_whole_blood",
    2: "glucose_capillary_plasma",
    3: "glucose_venous_whole_blood",
    4: "glucose_venous_plasma",
    5: "glucose_arterial_whole_blood",
    6: "glucose_arterial_plasma",
    7: "glucose_undetermined_whole_blood",  # MDC 160364
    8: "glucose_undetermined",  # undetermined plasma, MDC 160368
    9: "glucose_interstitial",
    10: "glucose_control_solution",
}
"""Glucose Type (low nibble) to measure (GSS Glucose Measurement, Type-Sample Location field:
1 capillary whole blood ... 7 undetermined whole blood, 8 undetermined plasma, 9 interstitial
fluid, 10 control solution). 0 and 11-15 are reserved: such a record is refused, since no
measure can say which sample the number is of (coding it as plasma or blood would be a guess)."""

GLUCOSE_LOCATIONS: dict[int, str | None] = {
    1: "finger",
    2: "alternate-site",
    3: "earlobe",
    4: None,  # control solution
    15: None,  # sample location not available
}
"""Sample Location (high nibble) to body site; 0 and 5-14 are reserved."""

GLUCOSE_ANNUNCIATION_FLAGS: tuple[tuple[int, str], ...] = (
    (0x0001, "battery-low"),
    (0x0002, "sensor-malfunction"),
    (0x0004, "sample-size-insufficient"),
    (0x0008, "strip-insertion-error"),
    (0x0010, "strip-type-incorrect"),
    (0x0020, "result-above-range"),
    (0x0040, "result-below-range"),
    (0x0080, "temperature-too-high"),
    (0x0100, "temperature-too-low"),
    (0x0200, "strip-pulled-too-soon"),
    (0x0400, "device-fault"),
    (0x0800, "time-fault"),
)
"""Sensor Status Annunciation of 0x2A18 (bits 12-15 reserved)."""

_NO_VALUE = {
    "sensor-malfunction",
    "sample-size-insufficient",
    "strip-insertion-error",
    "strip-type-incorrect",
    "strip-pulled-too-soon",
    "device-fault",
    "sensor-type-incorrect",
}
"""Flags under which the device's number is not a measurement: it becomes 'error'."""


def _concentration(raw: int, mol_per_litre: bool) -> tuple[str | DataAbsentReason, str]:
    """kg/L becomes mg/dL (x 10^5) and mol/L becomes mmol/L (x 10^3), exactly."""
    unit = "mmol/L" if mol_per_litre else "mg/dL"
    parts = sfloat_parts(raw)
    if isinstance(parts, DataAbsentReason):
        return parts, unit
    text = decimal_string(parts[0], parts[1] + (3 if mol_per_litre else 5))
    return (DataAbsentReason.UNSUPPORTED if text is None else text), unit


def _annunciation(status: int) -> list[str]:
    flags = [name for bit, name in GLUCOSE_ANNUNCIATION_FLAGS if status & bit]
    if status & 0xF000:
        flags.append("reserved-status")
    return flags


def glucose(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Glucose Measurement 0x2A18: sequence, base time + offset, concentration, type, site."""
    fmt = "gatt:2a18"
    flags = flags_byte(fmt, data, 0xE0)
    size = 10 + (2 if flags & 0x01 else 0) + (3 if flags & 0x02 else 0)
    check_length(fmt, data, size + (2 if flags & 0x08 else 0))
    r = Reader(data, 1)
    seq = r.u16()
    stamp = r.datetime()
    offset = r.sint(2) if flags & 0x01 else 0
    value: str | DataAbsentReason = DataAbsentReason.UNKNOWN
    unit = "mg/dL"
    key, site, extra_flags = "glucose_undetermined", None, []
    if flags & 0x02:
        value, unit = _concentration(r.u16(), bool(flags & 0x04))
        type_location = r.u8()
        sample_type = type_location & 0x0F
        if sample_type not in GLUCOSE_TYPES:
            raise InvalidValueError(
                fmt, "glucose type", sample_type, "reserved (0 and 11-15); 1-10 are defined"
            )
        key = GLUCOSE_TYPES[sample_type]
        location = type_location >> 4
        site = GLUCOSE_LOCATIONS.get(location)
        if location not in GLUCOSE_LOCATIONS:
            extra_flags.append("site-reserved")
    status = _annunciation(r.u16()) if flags & 0x08 else []
    if _NO_VALUE & set(status) or (not flags & 0x02 and status):
        value = DataAbsentReason.ERROR
    if flags & 0x10:
        extra_flags.append("context-follows")
    emit = Emitter(ctx, fmt, data)
    suffix = f" {offset:+d}min" if flags & 0x01 else ""
    when = emit.device_time(
        stamp, offset_minutes=offset, clock_not_set="time-fault" in status, suffix=suffix
    )
    return [
        emit.observation(
            key,
            when,
            value=value,
            unit=unit,
            extra=f"seq{seq}",
            sequence=seq,
            body_site=site,
            flags=[*status, *extra_flags],
        )
    ]


CGM_FLAGS: dict[str, tuple[tuple[int, str], ...]] = {
    "warning": (
        (0x01, "below-patient-low"),
        (0x02, "above-patient-high"),
        (0x04, "below-hypo"),
        (0x08, "above-hyper"),
        (0x10, "decrease-rate-exceeded"),
        (0x20, "increase-rate-exceeded"),
        (0x40, "below-device-range"),
        (0x80, "above-device-range"),
    ),
    "cal-temp": (
        (0x01, "time-sync-required"),
        (0x02, "calibration-not-allowed"),
        (0x04, "calibration-recommended"),
        (0x08, "calibration-required"),
        (0x10, "temperature-too-high"),
        (0x20, "temperature-too-low"),
    ),
    "status": (
        (0x01, "session-stopped"),
        (0x02, "battery-low"),
        (0x04, "sensor-type-incorrect"),
        (0x08, "sensor-malfunction"),
        (0x10, "device-specific-alert"),
        (0x20, "device-fault"),
    ),
}
"""Sensor Status Annunciation octets of a CGM record, in the order they appear."""
_CGM_RESERVED = {"warning": 0x00, "cal-temp": 0xC0, "status": 0xC0}
_CGM_OCTET_FLAG = {"warning": 0x20, "cal-temp": 0x40, "status": 0x80}


def e2e_crc(data: bytes) -> int:
    """The CGM E2E-CRC: CRC-16/MCRF4XX (reflected 0x1021, init 0xFFFF, no final XOR)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def _cgm_layout(fmt: str, record: bytes, ctx: DecodeContext) -> int:
    """Check a record's length against its flags and the CRC; return its flags."""
    flags = record[1]
    if flags & 0x1C:
        raise ReservedFlagError(fmt, "flags", flags, 0x1C)
    expected = 6 + sum(1 for bit in (0x20, 0x40, 0x80) if flags & bit)
    expected += (2 if flags & 0x01 else 0) + (2 if flags & 0x02 else 0)
    crc_required = ctx.state.cgm_e2e_crc
    if len(record) == expected + 2 and crc_required is not False:
        received = int.from_bytes(record[-2:], "little")
        computed = e2e_crc(record[:-2])
        if computed != received:
            raise CrcError(fmt, computed, received)
    elif crc_required:
        raise TooShortError(fmt, expected + 2, len(record), "the E2E-CRC")
    elif len(record) < expected:
        raise TooShortError(fmt, expected, len(record), "the fields the flags announce")
    elif len(record) != expected:
        raise TrailingBytesError(fmt, expected, len(record))
    return flags


def _cgm_time(emit: Emitter, offset: int) -> TimeInfo:
    start = _session_start(emit.ctx)
    text = f"+{offset}min"
    now = emit.receive_time().effective
    if start is None:
        return emit.receive_time(text)
    effective = start + timedelta(minutes=offset)
    if effective < EARLIEST_EFFECTIVE or effective > now + MAX_CLOCK_SKEW:
        return emit.receive_time(text, ("device-time-implausible",))
    return TimeInfo(effective, text)


def _session_start(ctx: DecodeContext) -> datetime | None:
    """The CGM session start in UTC (a naive time is taken as UTC)."""
    start = ctx.state.cgm_session_start
    if start is None:
        return None
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)


def _cgm_record(fmt: str, record: bytes, ctx: DecodeContext) -> list[Observation]:
    flags = _cgm_layout(fmt, record, ctx)
    r = Reader(record, 2)
    value = r.sfloat()
    offset = r.u16()
    status: list[str] = []
    for octet, names in CGM_FLAGS.items():
        if flags & _CGM_OCTET_FLAG[octet]:
            bits = r.u8()
            status += [name for bit, name in names if bits & bit]
            if bits & _CGM_RESERVED[octet] and "reserved-status" not in status:
                status.append("reserved-status")
    invalid = bool(_NO_VALUE & set(status))
    if invalid:
        value = DataAbsentReason.ERROR
    emit = Emitter(ctx, fmt, record)
    when = _cgm_time(emit, offset)
    start = _session_start(ctx)
    instant = f"{start.isoformat() if start else emit.now_text}+{offset}min"
    readings = [("glucose_interstitial", value, "mg/dL", status)]
    # a record whose status says the measurement is invalid has no number at all: its trend
    # and quality were worked out from the same invalid reading
    for bit, key, unit in ((0x01, "glucose_trend", "mg/dL/min"), (0x02, "cgm_quality", "%")):
        if flags & bit:
            extra: str | DataAbsentReason = r.sfloat()
            readings.append(
                (key, DataAbsentReason.ERROR, unit, status) if invalid else (key, extra, unit, [])
            )
    return [
        emit.observation(key, when, value=v, unit=unit, flags=f, instant=instant, sequence=offset)
        for key, v, unit, f in readings
    ]


def cgm_measurement(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """CGM Measurement 0x2AA7: one or more records, each with its own size byte."""
    fmt = "gatt:2aa7"
    if len(data) < 6:
        raise TooShortError(fmt, 6, len(data), "a CGM record")
    out: list[Observation] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        if size < 6:
            raise InvalidValueError(fmt, "record size", size, "a CGM record has at least 6 bytes")
        if pos + size > len(data):
            raise TooShortError(fmt, pos + size, len(data), "the record size")
        out += _cgm_record(fmt, data[pos : pos + size], ctx)
        pos += size
    return out
