"""The hub's fast path for valid messages: msgspec decoding, checked like the schema models.

Most traffic is valid, and building pydantic model instances costs about 27 µs per
observation on a Raspberry-Pi-class core, more than the hub's whole budget at 50,000
observations per second. :func:`accept` decodes a message straight into the hub's reading
structs (:class:`hub.reading.Reading`, same field names and shapes as
:class:`schemas.models.Observation`, times parsed) and checks every constraint of the models,
the model validators and the semantic checks of :func:`schemas.validation.check_observation`.

It is an *accept-only* path: it returns the accepted observations only when the whole
message is valid, and ``None`` otherwise, without saying why. The hub then judges the message
again with :func:`schemas.validation.validate_batch` (the pydantic models), which stay the one
authority for every rejection and its wording. The fast path is deliberately at least as
strict as the models (ASCII-only patterns, RFC 3339 times only; a message that may hold a time
finer than microseconds, which msgspec rounds and the models cut, is declined), so when in
doubt it declines. A message that repeats a key in any object is declined
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
from hub.reading import Reading, ReadingCoding, ReadingComponent, to_model
from schemas import bounds as b
from schemas.codes import CodesTable
from schemas.validation import MAX_CLOCK_SKEW, check_observation

__all__ = ["Accepted", "accept", "parse_time", "to_model"]


class _WireBatch(Struct, forbid_unknown_fields=True, gc=False, rename={"schema_": "schema"}):
    message_id: Annotated[str, Meta(min_length=1, max_length=b.IDENTIFIER_MAX)]
    publisher: Annotated[str, Meta(min_length=1, max_length=b.PUBLISHER_MAX)]
    sent: Annotated[datetime, Meta(tz=True)]
    observations: Annotated[
        list[Reading], Meta(min_length=1, max_length=b.MAX_OBSERVATIONS_PER_BATCH)
    ]
    schema_: Literal["hjem/1"] = "hjem/1"


_DECODER = msgspec.json.Decoder(_WireBatch)
_SEVEN_DECIMALS = re.compile(rb"\.[0-9]{7}").search  # a literal first: a quick scan
_FINE_TIME = re.compile(rb"[0-9]:[0-5][0-9]\.[0-9]{7}").search


def _may_hold_a_fine_time(payload: bytes) -> bool:
    """A time with 7 or more fractional digits: msgspec rounds it to microseconds where the
    models cut it off, so the fast path declines any message that may hold one."""
    return _SEVEN_DECIMALS(payload) is not None and _FINE_TIME(payload) is not None


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


_ident = re.compile(b.IDENTIFIER).fullmatch
_IDENTS = _Known(b.IDENTIFIER)
_PUBLISHERS = _Known(b.PUBLISHER)
_TOKENS = _Known(b.UCUM_UNIT)  # code systems, codes and units: printable ASCII, no spaces
_DECIMALS = _Known(b.DECIMAL)
_TIME_DECODER = msgspec.json.Decoder(Annotated[datetime, Meta(tz=True)])


def _utc(moment: datetime) -> datetime | None:
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # beyond years 1-9999 once in UTC
        return None


def parse_time(text: str) -> datetime | None:
    """A time as the fast path reads it (msgspec's RFC 3339, then UTC), or None if it declines."""
    raw = msgspec.json.encode(text)
    if _may_hold_a_fine_time(raw):
        return None
    try:
        return _utc(_TIME_DECODER.decode(raw))
    except msgspec.ValidationError:
        return None


def _codings_ok(codings: list[ReadingCoding]) -> bool:
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


def _component_ok(comp: ReadingComponent) -> bool:
    if comp.value is not None and (
        comp.data_absent_reason is not None or not _value_ok(comp.value, comp.unit)
    ):
        return False
    if comp.unit is not None and comp.unit not in _TOKENS.seen and not _TOKENS.learn(comp.unit):
        return False
    return _codings_ok(comp.code)


def _observation_ok(obs: Reading) -> bool:
    """The model constraints that msgspec's declarations leave out, and the validators."""
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
    """A wholly valid message: its envelope and every observation (times in UTC)."""

    message_id: str
    publisher: str
    observations: list[Reading]
    stored_payload: StoredPayload | None = None
    """The payload as the store keeps it, when the relay made it (:mod:`hub.ingest.verdicts`)."""


def _decode(payload: bytes) -> _WireBatch | None:
    if len(payload) > b.MAX_PAYLOAD_BYTES or _may_hold_a_fine_time(payload):
        return None
    try:
        return _DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
        return None


def accept(
    payload: bytes,
    *,
    now: datetime,
    expected_publisher: str,
    table: CodesTable | None = None,
) -> Accepted | None:
    """The message's observations if all of it is valid, else None (judge it the slow way)."""
    batch = _decode(payload)
    if batch is None:
        return None
    sent = _utc(batch.sent)
    if (
        batch.publisher != expected_publisher
        or (batch.publisher not in _PUBLISHERS.seen and not _PUBLISHERS.learn(batch.publisher))
        or _ident(batch.message_id) is None
        or sent is None
        or sent > now + MAX_CLOCK_SKEW
    ):
        return None
    observations = batch.observations
    seen: set[str] = set()
    for obs in observations:
        effective = obs.effective
        if effective.tzinfo is not UTC:
            moment = _utc(effective)
            if moment is None:
                return None
            obs.effective = moment
        if obs.id in seen or not _observation_ok(obs):
            return None
        if check_observation(obs, expected_publisher, now, table):
            return None
        seen.add(obs.id)
    if not has_no_duplicate_keys(payload):  # msgspec kept the last of two equal keys
        return None
    return Accepted(batch.message_id, batch.publisher, observations)
