"""What a decoder needs besides the bytes: the device, the receive time, per-device state.

Also the one place observations are built (:class:`Emitter`), so that every decoder sets
codes, units, ids, raw bytes, device time and clock correction the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.decoders.errors import TooShortError, TrailingBytesError
from edge.decoders.ieee11073 import DeviceDateTime
from schemas.builders import component, make_observation
from schemas.codes import codes
from schemas.models import (
    Coding,
    Component,
    DataAbsentReason,
    Observation,
    RawData,
    Source,
)
from schemas.validation import EARLIEST_EFFECTIVE, MAX_CLOCK_SKEW

_M = TypeVar("_M", Observation, RawData)

__all__ = [
    "DecodeContext",
    "DeviceState",
    "Emitter",
    "TimeInfo",
    "check_length",
    "fast_observation_id",
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


_KNOWN_ZONES: set[str] = set()


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
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
        if self.device_timezone not in _KNOWN_ZONES:
            try:
                _zone(self.device_timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown device_timezone {self.device_timezone!r}") from exc
            _KNOWN_ZONES.add(self.device_timezone)
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

    __slots__ = ("_now", "_now_text", "_raw", "_templates", "ctx", "fmt")

    def __init__(self, ctx: DecodeContext, fmt: str, data: bytes) -> None:
        self.ctx = ctx
        self.fmt = fmt
        self._raw = _construct(RawData, {"format": fmt, "data": data.hex()}, _RAW_FIELDS)
        self._templates = _templates_of(_source_key(ctx.source))
        self._now = ctx.now if ctx.now.tzinfo is UTC else ctx.now.astimezone(UTC)
        self._now_text = ctx.now.isoformat()

    @property
    def now_text(self) -> str:
        """The receive time as ISO 8601 text (the id instant of undated readings)."""
        return self._now_text

    def receive_time(self, text: str | None = None, flags: tuple[str, ...] = ()) -> TimeInfo:
        """The receive time as effective time, with an optional device time text and flags."""
        return TimeInfo(self._now, text, flags=flags)

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
            return TimeInfo(self._now, text, flags=(flag,))
        if clock_not_set:
            return TimeInfo(self._now, text, flags=("device-clock-not-set",))
        try:
            local = (naive + timedelta(minutes=offset_minutes)).replace(
                tzinfo=_zone(self.ctx.device_timezone)
            )
            effective = local.astimezone(UTC)
            if self.ctx.clock_offset is not None:
                effective -= self.ctx.clock_offset
        except OverflowError:
            return TimeInfo(self._now, text, flags=("device-time-invalid",))
        if effective < EARLIEST_EFFECTIVE or effective > self._now + MAX_CLOCK_SKEW:
            return TimeInfo(self._now, text, flags=("device-time-implausible",))
        return TimeInfo(effective, text, clock_corrected=self.ctx.clock_offset is not None)

    def received(
        self,
        key: str,
        extra: str,
        flags: list[str],
        *,
        sequence: int | None,
        field: str,
        value: object,
        unit: str | None = None,
    ) -> Observation:
        """An undated reading (advertisements): receive time, instant = receive time.

        The hot path of the advertisement decoders; ``field`` is ``"value"`` (then ``unit``),
        ``"value_boolean"``, ``"value_code"`` or ``"data_absent_reason"``. Equal to
        :meth:`observation` with the same arguments (tested).
        """
        entry = self._templates.get(key)
        if entry is None:
            entry = _template(self.ctx.source, self._templates, key)
        values = entry[0].copy()
        if entry[4]:
            extra = f"{extra}/{key}"
        values["id"] = _hex_id(entry[5] + f"{self._now_text}\x1f{extra}".encode())
        values["effective"] = self._now
        values["flags"] = flags
        values["raw"] = self._raw
        values["components"] = []
        values["sequence"] = sequence
        if field == "value" and not possible(key, str(value), unit or entry[3]):
            field, value = "data_absent_reason", DataAbsentReason.ERROR
        values[field] = value
        if field == "value":
            values["unit"] = unit or entry[3]
            values["code"] = codings_for(key, values["unit"])
        if self.ctx.demo:
            values["demo"] = True
        return _construct(Observation, values, _OBSERVATION_FIELDS)

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

        ``instant`` defaults to the device time (as sent) or else the receive time. The
        result equals ``schemas.builders.make_observation`` with the same arguments (the
        tests check this); it is built from a validated per-device template because
        validating every field of every observation again costs more than the decoding.
        """
        entry = self._templates.get(key)
        if entry is None:
            entry = _template(self.ctx.source, self._templates, key)
        template, _, _, default_unit, shared, prefix = entry
        if shared:  # e.g. spo2 and spo2_fast share MDC 150456: keep their ids apart
            extra = f"{extra}/{key}"
        device_time = when.device_time
        if instant is None:
            instant = device_time if device_time is not None else self._now_text
        values = template.copy()
        values["id"] = _hex_id(prefix + f"{instant}\x1f{extra}".encode())
        values["effective"] = when.effective
        values["flags"] = [*when.flags, *flags]
        values["raw"] = self._raw
        values["components"] = []
        if value is not None:
            if isinstance(value, DataAbsentReason):
                values["data_absent_reason"] = value
            elif not possible(key, value, unit or default_unit):
                values["data_absent_reason"] = DataAbsentReason.ERROR
            else:
                values["value"] = value
                values["unit"] = unit or default_unit
                values["code"] = codings_for(key, values["unit"])
        if device_time is not None:
            values["device_time"] = device_time
            values["clock_corrected"] = when.clock_corrected
        if fields:
            if fields.pop("demo", False):
                values["demo"] = True
            values.update(fields)
        if self.ctx.demo:
            values["demo"] = True
        return _construct(Observation, values, _OBSERVATION_FIELDS)


_OBSERVATION_FIELDS = set(Observation.model_fields)
_RAW_FIELDS = set(RawData.model_fields)
_new = object.__new__
_sha256 = hashlib.sha256
_setattr = object.__setattr__


def _construct(cls: type[_M], values: dict[str, object], fields: set[str]) -> _M:
    """What ``cls.model_construct(**values)`` does, for values already complete and checked.

    Only for the frozen, extra-forbidding schema models built here from validated templates
    (``Observation``, ``RawData``); the tests check the result equals ``make_observation``.
    """
    obj = _new(cls)
    _setattr(obj, "__dict__", values)
    _setattr(obj, "__pydantic_fields_set__", fields)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


def fast_observation_id(device_id: str, system: str, code: str, instant: str, extra: str) -> str:
    """The same id as :func:`schemas.identity.observation_id` (kept for the decoders' tests)."""
    return _hex_id("\x1f".join((device_id, system, code, instant, extra)).encode())


def _hex_id(key: bytes) -> str:
    """:func:`schemas.identity.observation_id` of an already joined key."""
    return _sha256(key).hexdigest()[:32]


_Template = tuple[dict[str, object], str, str, str | None, bool, bytes]
"""(field values, primary system, primary code, default unit, code shared, id key prefix)"""
_TEMPLATES: dict[tuple[str | None, ...], dict[str, _Template]] = {}
_MAX_TEMPLATES = 2048
"""Devices (sources) whose templates are kept; beyond that the caches start again."""


_SOURCE_KEYS: dict[int, tuple[Source, tuple[str | None, ...]]] = {}


def _source_key(source: Source) -> tuple[str | None, ...]:
    """Every field of a source as a plain tuple (hashing and comparing models is slow).

    Cached by object identity; the cache holds the source itself, so an id is never reused
    while its entry exists.
    """
    cached = _SOURCE_KEYS.get(id(source))
    if cached is not None and cached[0] is source:
        return cached[1]
    if len(_SOURCE_KEYS) >= _MAX_TEMPLATES:
        _SOURCE_KEYS.clear()
    device = source.device
    key = (
        source.publisher,
        source.gateway,
        device.id,
        device.address,
        device.serial,
        device.manufacturer,
        device.model,
        device.firmware,
    )
    _SOURCE_KEYS[id(source)] = (source, key)
    return key


def _templates_of(source_key: tuple[str | None, ...]) -> dict[str, _Template]:
    """The templates of one source (by measure key), created on first use."""
    found = _TEMPLATES.get(source_key)
    if found is None:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        found = _TEMPLATES[source_key] = {}
    return found


def _template(source: Source, templates: dict[str, _Template], key: str) -> _Template:
    """A validated observation of ``key`` from ``source`` (codes, source) to copy from."""
    measure = codes()[key]
    template = make_observation(
        key,
        source=source,
        effective=EARLIEST_EFFECTIVE,
        instant="template",
        data_absent_reason=DataAbsentReason.UNKNOWN,
    )
    values = dict(template.__dict__)
    values["data_absent_reason"] = None
    system, code = measure.primary.system, measure.primary.code
    shared = len(codes().by_primary(system, code)) > 1
    prefix = "\x1f".join((source.device.id, system, code, "")).encode()
    found = (values, system, code, measure.unit, shared, prefix)
    templates[key] = found
    return found


@cache
def _codings_for(key: str, unit: str) -> tuple[Coding, ...]:
    return codes()[key].codings_for(unit)


def codings_for(key: str, unit: object) -> list[Coding]:
    """The codes of measure ``key`` that allow ``unit`` (a fresh list per observation)."""
    return list(_codings_for(key, str(unit)))


def make_component(key: str, value: str | DataAbsentReason, unit: str) -> Component:
    """A component whose value may be a data-absent reason (``error`` when impossible)."""
    if isinstance(value, DataAbsentReason):
        return component(key, None, absent=value)
    if not possible(key, value, unit):
        return component(key, None, absent=DataAbsentReason.ERROR)
    return component(key, value, unit)


def possible(key: str, value: str, unit: str | None) -> bool:
    """Whether ``value`` lies within the measure's possible range for ``unit`` (codes.toml).

    A device that reports a value no body or room can have (a decoding of garbage, a
    sensor fault) yields ``data_absent_reason = error`` instead; the raw bytes are kept. The
    hub refuses such values (:mod:`schemas.code_rules`), so a gateway never sends them.
    """
    bounds = codes()[key].ranges.get(unit or "")
    return bounds is None or bounds[0] <= float(value) <= bounds[1]
