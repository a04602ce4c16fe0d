"""The hub's fast path for valid messages: msgspec decoding, checked like the schema models.

Most traffic is valid, and building pydantic model instances costs about 27 µs per
observation on a Raspberry-Pi-class core, more than the hub's whole budget at 50,000
observations per second. :func:`accept` decodes a message into small msgspec structs
(:class:`WireObservation`, same field names and shapes as :class:`schemas.models.Observation`)
and checks every constraint of the models, the model validators and the semantic checks of
:func:`schemas.validation.check_observation`.

It is an *accept-only* path: it returns the accepted observations only when the whole
message is valid, and ``None`` otherwise, without saying why. The hub then judges the message
again with :func:`schemas.validation.validate_batch` (the pydantic models), which stay the one
authority for every rejection and its wording. The fast path is deliberately at least as
strict as the models (ASCII-only patterns, RFC 3339 times without variants), so when in doubt
it declines. A message that repeats a key in any object is declined
(:mod:`hub.ingest.fastpath_keys`), and values outside a code's possible range fail the shared
semantic checks (:mod:`schemas.code_rules`). ``tests/hub/test_fastpath.py`` checks with
generated and mutated messages that it never accepts what the models refuse, and that it
yields the same values when it accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from hub.ingest.fastpath_keys import has_no_duplicate_keys
from hub.ingest.payloads import StoredPayload
from schemas.codes import CodesTable
from schemas.models import MAX_OBSERVATIONS_PER_BATCH, MAX_PAYLOAD_BYTES, Observation
from schemas.validation import MAX_CLOCK_SKEW, check_fields

__all__ = ["Accepted", "WireObservation", "accept", "to_model"]

# Strings checked by the cached pattern checks below carry only their lengths here.
_Short = Annotated[str, Meta(max_length=128)]
_Ident = Annotated[str, Meta(min_length=1, max_length=128)]
_Absent = Literal[
    "not-a-number", "positive-infinity", "negative-infinity", "error", "unknown", "unsupported"
]
_IDENT_RE = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*\Z"


class _Wire(Struct, forbid_unknown_fields=True, gc=False):
    """Decoded message parts: not tracked by the cyclic garbage collector.

    They hold strings, numbers and lists of each other, never a reference back, so they
    cannot form cycles. Tracked, they made up most of the young generation: at 100
    observations per message the hub's gen-0 collections took 0.39 s per 200,000
    observations (about 2 µs each); untracked, 0.03 s.
    """


class WireCoding(_Wire):
    system: Annotated[str, Meta(min_length=1, max_length=128)]
    code: Annotated[str, Meta(min_length=1, max_length=64)]
    display: _Short | None = None


class WireDevice(_Wire):
    id: _Ident
    address: Annotated[str, Meta(pattern=r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}\Z")] | None = None
    system_id: Annotated[str, Meta(pattern=r"^[0-9A-F]{16}\Z")] | None = None
    serial: _Short | None = None
    manufacturer: _Short | None = None
    model: _Short | None = None
    firmware: _Short | None = None


class WireSource(_Wire):
    publisher: Annotated[str, Meta(min_length=1, max_length=64)]
    device: WireDevice
    gateway: Annotated[str, Meta(max_length=128, pattern=_IDENT_RE)] | None = None


class WireRaw(_Wire):
    format: Annotated[str, Meta(max_length=64, pattern=r"^(gatt|adv|vendor):[a-z0-9._\-]+\Z")]
    data: Annotated[str, Meta(max_length=2048, pattern=r"^(?:[0-9a-f]{2})*\Z")]


class WireComponent(_Wire):
    code: Annotated[list[WireCoding], Meta(min_length=1, max_length=4)]
    value: Annotated[str, Meta(max_length=40)] | None = None
    unit: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    data_absent_reason: _Absent | None = None


class WireObservation(_Wire):
    """An observation as decoded by the fast path (times still as sent; see ``effective``)."""

    id: _Ident
    source: WireSource
    code: Annotated[list[WireCoding], Meta(min_length=1, max_length=4)]
    effective: Annotated[str, Meta(max_length=40)]
    device_time: _Short | None = None
    clock_corrected: bool = False
    sequence: Annotated[int, Meta(ge=0, le=2**32 - 1)] | None = None
    value: Annotated[str, Meta(max_length=40)] | None = None
    unit: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    value_boolean: bool | None = None
    value_code: Annotated[str, Meta(max_length=128, pattern=_IDENT_RE)] | None = None
    components: Annotated[list[WireComponent], Meta(max_length=16)] = []
    data_absent_reason: _Absent | None = None
    body_site: Annotated[str, Meta(max_length=128, pattern=_IDENT_RE)] | None = None
    status: Literal["final", "preliminary"] = "final"
    flags: Annotated[
        list[Annotated[str, Meta(max_length=64, pattern=r"^[a-z0-9\-]+\Z")]], Meta(max_length=32)
    ] = []
    raw: WireRaw | None = None
    demo: bool = False


class _WireBatch(_Wire, rename={"schema_": "schema"}):
    message_id: _Ident
    publisher: Annotated[str, Meta(min_length=1, max_length=64)]
    sent: Annotated[str, Meta(max_length=40)]
    observations: Annotated[
        list[WireObservation], Meta(min_length=1, max_length=MAX_OBSERVATIONS_PER_BATCH)
    ]
    schema_: Literal["hjem/1"] = "hjem/1"


_DECODER = msgspec.json.Decoder(_WireBatch)
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_CACHE_LIMIT = 50_000


class _Known:
    """Strings already found to fully match a pattern (device ids, codes, units, values...)."""

    __slots__ = ("_match", "seen")

    def __init__(self, pattern: str) -> None:
        self._match = re.compile(pattern).fullmatch
        self.seen: set[str] = set()

    def learn(self, text: str) -> bool:
        """Check a string not seen before; remember it if it matches."""
        if self._match(text) is None:
            return False
        if len(self.seen) >= _CACHE_LIMIT:
            self.seen.clear()
        self.seen.add(text)
        return True


_ident = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*").fullmatch
_IDENTS = _Known(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
_PUBLISHERS = _Known(r"[a-z0-9][a-z0-9_\-]*")
_TOKENS = _Known(r"[!-~]+")  # code systems, codes and units: printable ASCII, no spaces
_DECIMALS = _Known(r"-?(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,18})?")


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time in UTC, or None if it is not in the strict form the fast path takes."""
    if _TIME.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # no such date, or beyond year 1-9999 in UTC
        return None


def _codings_ok(codings: list[WireCoding]) -> bool:
    tokens = _TOKENS.seen
    for c in codings:
        if c.system not in tokens and not _TOKENS.learn(c.system):
            return False
        if c.code not in tokens and not _TOKENS.learn(c.code):
            return False
    return True


def _value_ok(value: str, unit: str | None) -> bool:
    if unit is None:
        return False
    if value not in _DECIMALS.seen and not _DECIMALS.learn(value):
        return False
    return unit in _TOKENS.seen or _TOKENS.learn(unit)


def _component_ok(comp: WireComponent) -> bool:
    if comp.value is not None and (
        comp.data_absent_reason is not None or not _value_ok(comp.value, comp.unit)
    ):
        return False
    if comp.unit is not None and comp.unit not in _TOKENS.seen and not _TOKENS.learn(comp.unit):
        return False
    return _codings_ok(comp.code)


def _observation_ok(obs: WireObservation) -> bool:
    """The model constraints that msgspec's declarations above leave out, and the validators."""
    source = obs.source
    if _ident(obs.id) is None or (
        source.device.id not in _IDENTS.seen and not _IDENTS.learn(source.device.id)
    ):
        return False
    if source.publisher not in _PUBLISHERS.seen and not _PUBLISHERS.learn(source.publisher):
        return False
    if not _codings_ok(obs.code):
        return False
    if obs.value is not None:  # the common case: a quantity
        return (
            obs.value_boolean is None
            and obs.value_code is None
            and not obs.components
            and obs.data_absent_reason is None
            and _value_ok(obs.value, obs.unit)
        )
    given = (
        (obs.value_boolean is not None)
        + (obs.value_code is not None)
        + bool(obs.components)
        + (obs.data_absent_reason is not None)
    )
    if given != 1 or obs.unit is not None:
        return False
    return all(_component_ok(c) for c in obs.components)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A wholly valid message: its envelope and every observation with its UTC time."""

    message_id: str
    publisher: str
    observations: list[tuple[WireObservation, datetime]]
    stored_payload: StoredPayload | None = None
    """The payload as the store keeps it, when the relay made it (:mod:`hub.ingest.verdicts`)."""


def accept(
    payload: bytes,
    *,
    now: datetime,
    expected_publisher: str,
    table: CodesTable | None = None,
) -> Accepted | None:
    """The message's observations if all of it is valid, else None (judge it the slow way)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        batch = _DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    sent = parse_time(batch.sent)
    if (
        batch.publisher != expected_publisher
        or (batch.publisher not in _PUBLISHERS.seen and not _PUBLISHERS.learn(batch.publisher))
        or _ident(batch.message_id) is None
        or sent is None
        or sent > now + MAX_CLOCK_SKEW
    ):
        return None
    out: list[tuple[WireObservation, datetime]] = []
    seen: set[str] = set()
    for obs in batch.observations:
        effective = parse_time(obs.effective)
        if effective is None or obs.id in seen or not _observation_ok(obs):
            return None
        if check_fields(obs, effective, expected_publisher, now, table):
            return None
        seen.add(obs.id)
        out.append((obs, effective))
    if not has_no_duplicate_keys(payload):  # msgspec kept the last of two equal keys
        return None
    return Accepted(batch.message_id, batch.publisher, out)


def to_model(obs: WireObservation) -> Observation:
    """The pydantic model of an accepted wire observation (validated again, so exact)."""
    return Observation.model_validate(msgspec.to_builtins(obs))
