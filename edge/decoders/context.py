"""What a decoder needs besides the bytes: the device, the receive time, per-device state.

Also the one place observations are built (:class:`Emitter`), so that every decoder sets
codes, units, ids, raw bytes, device time and clock correction the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.decoders.errors import TooShortError, TrailingBytesError
from edge.decoders.ieee11073 import DeviceDateTime
from schemas.builders import component, make_observation
from schemas.models import (
    Component,
    DataAbsentReason,
    Observation,
    RawData,
    Source,
)
from schemas.validation import EARLIEST_EFFECTIVE, MAX_CLOCK_SKEW

__all__ = [
    "DecodeContext",
    "DeviceState",
    "Emitter",
    "TimeInfo",
    "check_length",
    "make_component",
]


@dataclass
class DeviceState:
    """Mutable per-device state the caller keeps between packets (one per device).

    Decoders update it only after a packet decoded completely, so a rejected packet never
    moves a counter.
    """

    bthome_packet_id: int | None = None
    bthome_counter: int | None = None
    bthome_last_encrypted: bytes | None = None
    bthome_device_type: int | None = None
    firmware: str | None = None
    ruuvi_sequence: int | None = None
    xiaomi_counter: int | None = None
    cgm_session_start: datetime | None = None
    """The CGM session start (from CGM Session Start Time), when the agent read it."""
    cgm_e2e_crc: bool | None = None
    """From the CGM Feature characteristic: True requires, False forbids the E2E-CRC."""


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class DecodeContext:
    """The device and the moment a packet was received; decoders never read the clock."""

    source: Source
    now: datetime
    state: DeviceState
    bthome_key: bytes | None = None
    clock_offset: timedelta | None = None
    """Device clock minus true time, when the gateway measured it."""
    device_timezone: str = "Europe/Copenhagen"
    """How to read a device DateTime, which carries no offset."""
    demo: bool = False

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("DecodeContext.now must carry a UTC offset")
        try:
            _zone(self.device_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown device_timezone {self.device_timezone!r}") from exc
        if self.bthome_key is not None and len(self.bthome_key) != 16:
            raise ValueError(f"a BTHome key has 16 bytes, got {len(self.bthome_key)}")


@dataclass(frozen=True, slots=True)
class TimeInfo:
    """When a measurement was taken, and how that was worked out."""

    effective: datetime
    device_time: str | None = None
    clock_corrected: bool = False
    flags: tuple[str, ...] = ()


def check_length(fmt: str, data: bytes, expected: int, what: str = "") -> None:
    """Raise unless ``data`` has exactly the ``expected`` length the flags announce."""
    if len(data) < expected:
        raise TooShortError(fmt, expected, len(data), what)
    if len(data) > expected:
        raise TrailingBytesError(fmt, expected, len(data))


class Emitter:
    """Builds the observations of one decoded value (one characteristic value or advert)."""

    __slots__ = ("_raw", "ctx", "fmt")

    def __init__(self, ctx: DecodeContext, fmt: str, data: bytes) -> None:
        self.ctx = ctx
        self.fmt = fmt
        self._raw = RawData(format=fmt, data=data.hex())

    def receive_time(self) -> TimeInfo:
        return TimeInfo(effective=self.ctx.now)

    def device_time(
        self,
        stamp: DeviceDateTime | None,
        *,
        offset_minutes: int = 0,
        clock_not_set: bool = False,
        suffix: str = "",
    ) -> TimeInfo:
        """The effective time from a device timestamp, corrected when the offset is known.

        An unknown, invalid or implausible (before 2000, or in the future) device time gives
        the receive time, with a flag saying why; the raw device time is always kept.
        """
        if stamp is None:
            return self.receive_time()
        text = stamp.text + suffix
        naive = stamp.naive()
        if naive is None:
            flag = "device-time-invalid" if stamp.known else "device-time-unknown"
            return TimeInfo(self.ctx.now, text, flags=(flag,))
        if clock_not_set:
            return TimeInfo(self.ctx.now, text, flags=("device-clock-not-set",))
        try:
            local = (naive + timedelta(minutes=offset_minutes)).replace(
                tzinfo=_zone(self.ctx.device_timezone)
            )
            effective = local.astimezone(UTC)
            if self.ctx.clock_offset is not None:
                effective -= self.ctx.clock_offset
        except OverflowError:
            return TimeInfo(self.ctx.now, text, flags=("device-time-invalid",))
        if effective < EARLIEST_EFFECTIVE or effective > self.ctx.now + MAX_CLOCK_SKEW:
            return TimeInfo(self.ctx.now, text, flags=("device-time-implausible",))
        return TimeInfo(effective, text, clock_corrected=self.ctx.clock_offset is not None)

    def observation(
        self,
        key: str,
        when: TimeInfo,
        *,
        value: str | DataAbsentReason | None = None,
        unit: str | None = None,
        instant: str | None = None,
        extra: str = "",
        flags: Iterable[str] = (),
        **fields: object,
    ) -> Observation:
        """One observation of measure ``key``; ``value`` may be a data-absent reason.

        ``instant`` defaults to the device time (as sent) or else the receive time.
        """
        if isinstance(value, DataAbsentReason):
            fields["data_absent_reason"] = value
            value, unit = None, None
        all_flags = [*when.flags, *flags]
        if instant is None:
            instant = when.device_time if when.device_time is not None else self.ctx.now.isoformat()
        return make_observation(
            key,
            source=self.ctx.source,
            effective=when.effective,
            instant=instant,
            extra=extra,
            value=value,
            unit=unit,
            device_time=when.device_time,
            clock_corrected=when.clock_corrected,
            flags=all_flags,
            raw=self._raw,
            demo=self.ctx.demo or bool(fields.pop("demo", False)),
            **fields,
        )


def make_component(key: str, value: str | DataAbsentReason, unit: str) -> Component:
    """A component whose value may be a data-absent reason."""
    if isinstance(value, DataAbsentReason):
        return component(key, None, absent=value)
    return component(key, value, unit)
