"""GATT vital-sign characteristics: heart rate, thermometer, blood pressure, weight, ESS."""

from __future__ import annotations

from edge.decoders.context import DecodeContext, Emitter, check_length, make_component
from edge.decoders.errors import DecodeError, InvalidValueError, ReservedFlagError, TooShortError
from edge.decoders.ieee11073 import scaled
from edge.decoders.reader import Reader
from schemas.builders import make_observation
from schemas.models import DataAbsentReason, Observation

__all__ = [
    "BODY_SITES",
    "battery_level",
    "blood_pressure",
    "ess_humidity",
    "ess_pressure",
    "ess_temperature",
    "heart_rate",
    "temperature",
    "weight",
]

BODY_SITES: dict[int, str] = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal-tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}
"""Temperature Type (0x2A1D) values to body sites; 0 and 10-255 are reserved."""


def flags_byte(fmt: str, data: bytes, reserved_mask: int) -> int:
    """The leading flags byte, refusing reserved bits (they could change the layout)."""
    if not data:
        raise TooShortError(fmt, 1, 0, "flags")
    flags = data[0]
    if flags & reserved_mask:
        raise ReservedFlagError(fmt, "flags", flags, reserved_mask)
    return flags


def trim_zeros(text: str) -> str:
    """``"1000.0000000"`` -> ``"1000"``; for exact conversions whose digits carry no precision."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def heart_rate(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Heart Rate Measurement 0x2A37: rate, sensor contact, energy expended, RR intervals."""
    fmt = "gatt:2a37"
    flags = flags_byte(fmt, data, 0xE0)
    size = 1 + (2 if flags & 0x01 else 1) + (2 if flags & 0x08 else 0)
    if flags & 0x10:
        size += 2
        if len(data) < size:
            raise TooShortError(fmt, size, len(data), "an RR interval")
        if (len(data) - size) % 2:
            raise TooShortError(fmt, len(data) + 1, len(data), "RR intervals of 2 bytes each")
        size = len(data)
    check_length(fmt, data, size)
    r = Reader(data, 1)
    rate = r.u16() if flags & 0x01 else r.u8()
    contact = (flags >> 1) & 0x03
    contact_flags = {2: ("sensor-contact-lost",), 3: ("sensor-contact",)}.get(contact, ())
    emit = Emitter(ctx, fmt, data)
    when = emit.receive_time()
    out = [emit.observation("heart_rate", when, value=str(rate), flags=contact_flags)]
    if flags & 0x08:
        out.append(emit.observation("energy_expended", when, value=str(r.u16()), unit="kJ"))
    index = 0
    while r.pos < len(data):
        rr_ms = trim_zeros(scaled(r.u16(), 9765625, 7))  # 1/1024 s -> ms, exact
        out.append(emit.observation("rr_interval", when, value=rr_ms, extra=f"rr{index}"))
        index += 1
    return out


def temperature(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Temperature Measurement 0x2A1C: FLOAT in °C or °F, timestamp, measurement site."""
    fmt = "gatt:2a1c"
    flags = flags_byte(fmt, data, 0xF8)
    check_length(fmt, data, 5 + (7 if flags & 0x02 else 0) + (1 if flags & 0x04 else 0))
    r = Reader(data, 1)
    value = r.float32()
    emit = Emitter(ctx, fmt, data)
    when = emit.device_time(r.datetime() if flags & 0x02 else None)
    site_flags: tuple[str, ...] = ()
    site = None
    if flags & 0x04:
        site_code = r.u8()
        site = BODY_SITES.get(site_code)
        site_flags = () if site else ("site-reserved",)
    return [
        emit.observation(
            "body_temperature",
            when,
            value=value,
            unit="[degF]" if flags & 0x01 else "Cel",
            body_site=site,
            flags=site_flags,
        )
    ]


BP_STATUS: tuple[tuple[int, str], ...] = (
    (0x0001, "body-movement"),
    (0x0002, "cuff-too-loose"),
    (0x0004, "irregular-pulse"),
    (0x0020, "improper-position"),
)
BP_PULSE_RANGE = {1: "pulse-rate-above-range", 2: "pulse-rate-below-range", 3: "reserved-status"}


def bp_status_flags(status: int) -> list[str]:
    flags = [name for bit, name in BP_STATUS if status & bit]
    pulse_range = (status >> 3) & 0x03
    if pulse_range:
        flags.append(BP_PULSE_RANGE[pulse_range])
    if status & 0xFFC0 and "reserved-status" not in flags:
        flags.append("reserved-status")
    return flags


def user_flags(user: int | None) -> list[str]:
    """A device user index (255 = unknown user) as a flag ``user-N``."""
    return [] if user is None or user == 0xFF else [f"user-{user}"]


def blood_pressure(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Blood Pressure Measurement 0x2A35: sys/dia/MAP components, pulse, user, status."""
    fmt = "gatt:2a35"
    flags = flags_byte(fmt, data, 0xE0)
    size = 7 + (7 if flags & 0x02 else 0) + (2 if flags & 0x04 else 0)
    check_length(fmt, data, size + (1 if flags & 0x08 else 0) + (2 if flags & 0x10 else 0))
    r = Reader(data, 1)
    unit = "kPa" if flags & 0x01 else "mm[Hg]"
    parts = [
        make_component(key, r.sfloat(), unit)
        for key in ("blood_pressure_systolic", "blood_pressure_diastolic", "blood_pressure_mean")
    ]
    emit = Emitter(ctx, fmt, data)
    when = emit.device_time(r.datetime() if flags & 0x02 else None)
    pulse = r.sfloat() if flags & 0x04 else None
    user = r.u8() if flags & 0x08 else None
    status = bp_status_flags(r.u16()) if flags & 0x10 else []
    common = user_flags(user) + status
    out = [emit.observation("blood_pressure", when, components=parts, flags=common)]
    if pulse is not None:
        out.append(emit.observation("pulse_rate_bp", when, value=pulse, unit="/min", flags=common))
    return out


def weight(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Weight Measurement 0x2A9D: SI or imperial, timestamp, user, BMI and height."""
    fmt = "gatt:2a9d"
    flags = flags_byte(fmt, data, 0xF0)
    size = 3 + (7 if flags & 0x02 else 0) + (1 if flags & 0x04 else 0)
    check_length(fmt, data, size + (4 if flags & 0x08 else 0))
    imperial = bool(flags & 0x01)
    r = Reader(data, 1)
    raw_weight = r.u16()
    emit = Emitter(ctx, fmt, data)
    when = emit.device_time(r.datetime() if flags & 0x02 else None)
    user = user_flags(r.u8() if flags & 0x04 else None)
    failed = raw_weight == 0xFFFF
    weight_value: str | DataAbsentReason = DataAbsentReason.ERROR
    if not failed:
        weight_value = scaled(raw_weight, 1, 2) if imperial else scaled(raw_weight, 5, 3)
    out = [
        emit.observation(
            "body_weight",
            when,
            value=weight_value,
            unit="[lb_av]" if imperial else "kg",
            flags=[*user, *(["measurement-unsuccessful"] if failed else [])],
        )
    ]
    if flags & 0x08:
        bmi_raw, height_raw = r.u16(), r.u16()
        bmi: str | DataAbsentReason = DataAbsentReason.ERROR if failed else scaled(bmi_raw, 1, 1)
        height = scaled(height_raw, 1, 1) if imperial else scaled(height_raw, 1, 3)
        out.append(emit.observation("bmi", when, value=bmi, unit="kg/m2", flags=user))
        out.append(
            emit.observation(
                "body_height", when, value=height, unit="[in_i]" if imperial else "m", flags=user
            )
        )
    return out


def ess_temperature(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """ESS Temperature 0x2A6E: sint16 in 0.01 °C; 0x8000 = unknown."""
    fmt = "gatt:2a6e"
    check_length(fmt, data, 2)
    raw = int.from_bytes(data, "little", signed=True)
    value = DataAbsentReason.UNKNOWN if raw == -0x8000 else scaled(raw, 1, 2)
    emit = Emitter(ctx, fmt, data)
    return [emit.observation("room_temperature", emit.receive_time(), value=value, unit="Cel")]


def ess_humidity(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """ESS Humidity 0x2A6F: uint16 in 0.01 %; 0xFFFF = unknown; above 100 % is invalid."""
    fmt = "gatt:2a6f"
    check_length(fmt, data, 2)
    raw = int.from_bytes(data, "little")
    value: str | DataAbsentReason = DataAbsentReason.UNKNOWN
    if raw != 0xFFFF:
        if raw > 10000:
            raise InvalidValueError(fmt, "humidity", raw, "above 100.00 %")
        value = scaled(raw, 1, 2)
    emit = Emitter(ctx, fmt, data)
    return [emit.observation("relative_humidity", emit.receive_time(), value=value, unit="%")]


def ess_pressure(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """ESS Pressure 0x2A6D: uint32 in 0.1 Pa."""
    fmt = "gatt:2a6d"
    check_length(fmt, data, 4)
    value = scaled(int.from_bytes(data, "little"), 1, 1)
    emit = Emitter(ctx, fmt, data)
    return [emit.observation("air_pressure", emit.receive_time(), value=value, unit="Pa")]


def battery_level(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Battery Level (0x2A19): one byte, percent (0-100); the agent reads it once a session."""
    if len(data) != 1 or data[0] > 100:
        raise DecodeError("gatt:2a19", f"battery level must be one byte 0-100, got {data.hex()}")
    return [
        make_observation(
            "battery",
            source=ctx.source,
            effective=ctx.now,
            value=str(data[0]),
            raw={"format": "gatt:2a19", "data": data.hex()},
            demo=ctx.demo,
        )
    ]
