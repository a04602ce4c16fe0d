"""Pulse oximeter (PLX service 0x1822): Spot-check 0x2A5E and Continuous 0x2A5F."""

from __future__ import annotations

from edge.decoders.context import DecodeContext, Emitter, TimeInfo, check_length
from edge.decoders.gatt_vitals import flags_byte
from edge.decoders.reader import Reader
from schemas.models import DataAbsentReason, Observation, ObservationStatus

__all__ = ["DEVICE_STATUS_FLAGS", "MEASUREMENT_STATUS_FLAGS", "plx_continuous", "plx_spot_check"]

MEASUREMENT_STATUS_FLAGS: tuple[tuple[int, str], ...] = (
    (1 << 5, "measurement-ongoing"),
    (1 << 6, "early-estimate"),
    (1 << 7, "validated"),
    (1 << 8, "fully-qualified"),
    (1 << 9, "from-storage"),
    (1 << 10, "demonstration-data"),
    (1 << 11, "testing-data"),
    (1 << 12, "calibration-ongoing"),
    (1 << 13, "measurement-unavailable"),
    (1 << 14, "questionable-measurement"),
    (1 << 15, "invalid-measurement"),
)
"""PLX Measurement Status (16 bits; bits 0-4 reserved)."""

DEVICE_STATUS_FLAGS: tuple[tuple[int, str], ...] = (
    (1 << 0, "extended-display-update"),
    (1 << 1, "equipment-malfunction"),
    (1 << 2, "signal-processing-irregularity"),
    (1 << 3, "inadequate-signal"),
    (1 << 4, "poor-signal"),
    (1 << 5, "low-perfusion"),
    (1 << 6, "erratic-signal"),
    (1 << 7, "non-pulsatile-signal"),
    (1 << 8, "questionable-pulse"),
    (1 << 9, "signal-analysis-ongoing"),
    (1 << 10, "sensor-interference"),
    (1 << 11, "sensor-unconnected"),
    (1 << 12, "unknown-sensor"),
    (1 << 13, "sensor-displaced"),
    (1 << 14, "sensor-malfunction"),
    (1 << 15, "sensor-disconnected"),
)
"""PLX Device and Sensor Status (24 bits; bits 16-23 reserved)."""

_NO_VALUE = {"measurement-unavailable", "invalid-measurement"}
_PRELIMINARY = {"measurement-ongoing", "early-estimate"}
_DEMO = {"demonstration-data", "testing-data"}


def _status_flags(measurement: int | None, device: int | None) -> list[str]:
    flags: list[str] = []
    if measurement is not None:
        flags += [name for bit, name in MEASUREMENT_STATUS_FLAGS if measurement & bit]
        if measurement & 0x001F:
            flags.append("reserved-status")
    if device is not None:
        flags += [name for bit, name in DEVICE_STATUS_FLAGS if device & bit]
        if device & 0xFF0000 and "reserved-status" not in flags:
            flags.append("reserved-status")
    return flags


def _emit_record(
    emit: Emitter,
    when: TimeInfo,
    readings: list[tuple[str, str | DataAbsentReason, str]],
    flags: list[str],
) -> list[Observation]:
    """Every value of one record (SpO2, pulse rate, perfusion index) under its Measurement
    Status: invalid or unavailable measurements give no number for any of them, and the
    status (preliminary, demonstration or testing data) applies to each."""
    status = ObservationStatus.PRELIMINARY if _PRELIMINARY & set(flags) else ObservationStatus.FINAL
    demo = bool(_DEMO & set(flags))
    no_value = bool(_NO_VALUE & set(flags))
    return [
        emit.observation(
            key,
            when,
            value=DataAbsentReason.ERROR if no_value else reading,
            unit=unit,
            flags=flags,
            status=status,
            demo=demo,
        )
        for key, reading, unit in readings
    ]


def plx_spot_check(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """PLX Spot-check Measurement 0x2A5E."""
    fmt = "gatt:2a5e"
    flags = flags_byte(fmt, data, 0xE0)
    size = 5 + (7 if flags & 0x01 else 0) + (2 if flags & 0x02 else 0)
    check_length(fmt, data, size + (3 if flags & 0x04 else 0) + (2 if flags & 0x08 else 0))
    r = Reader(data, 1)
    spo2, pulse = r.sfloat(), r.sfloat()
    emit = Emitter(ctx, fmt, data)
    stamp = r.datetime() if flags & 0x01 else None
    when = emit.device_time(stamp, clock_not_set=bool(flags & 0x10))
    measurement = r.u16() if flags & 0x02 else None
    device = r.uint(3) if flags & 0x04 else None
    status = _status_flags(measurement, device)
    if flags & 0x10 and stamp is None:
        status.append("device-clock-not-set")
    readings = [("spo2", spo2, "%"), ("pulse_rate_oximeter", pulse, "/min")]
    if flags & 0x08:
        readings.append(("perfusion_index", r.sfloat(), "%"))
    return _emit_record(emit, when, readings, status)


def plx_continuous(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """PLX Continuous Measurement 0x2A5F: normal, fast and slow SpO2/PR pairs."""
    fmt = "gatt:2a5f"
    flags = flags_byte(fmt, data, 0xE0)
    size = 5 + (4 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
    size += (2 if flags & 0x04 else 0) + (3 if flags & 0x08 else 0) + (2 if flags & 0x10 else 0)
    check_length(fmt, data, size)
    r = Reader(data, 1)
    pairs = [("", "normal")] + [(s, s) for bit, s in ((1, "_fast"), (2, "_slow")) if flags & bit]
    readings: list[tuple[str, str | DataAbsentReason, str]] = []
    for suffix, _ in pairs:
        readings.append((f"spo2{suffix}", r.sfloat(), "%"))
        readings.append((f"pulse_rate_oximeter{suffix}", r.sfloat(), "/min"))
    measurement = r.u16() if flags & 0x04 else None
    device = r.uint(3) if flags & 0x08 else None
    status = _status_flags(measurement, device)
    emit = Emitter(ctx, fmt, data)
    if flags & 0x10:
        readings.append(("perfusion_index", r.sfloat(), "%"))
    return _emit_record(emit, emit.receive_time(), readings, status)
