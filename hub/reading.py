"""The hub's one internal reading type: msgspec structs shaped like the schema's Observation.

What ingest accepts, the stores write, the roll-ups sum and the alert rules read is a
:class:`Reading`: the same field names and shapes as :class:`schemas.models.Observation`, with
``effective`` parsed to a UTC :class:`~datetime.datetime`. The pydantic models stay the contract
at the edges (every rejection's wording, JSON Schema, the vendor guide, stored JSON); a reading
becomes a model only where that contract is written out (:func:`to_model`), and a model becomes
a reading where the models judged a message (:func:`reading_of`).

Patterns and bounds come from :mod:`schemas.bounds`, as the models' do, and
``tests/hub/test_reading_contract.py`` compares the two field by field (names, types,
optionality, defaults, bounds, patterns): a field added to one and not the other fails there.
Strings whose pattern the ingest fast path checks itself, with a cache of values already seen
(:mod:`hub.ingest.fastpath`), carry only their lengths here; :data:`CHECKED_BY_FAST_PATH` names
them and the pattern applied, so the contract test sees those too.

The structs are not tracked by the cyclic garbage collector (``gc=False``): they hold strings,
numbers, datetimes and lists of each other, never a reference back, so they cannot form cycles.
Tracked, they made up most of the young generation: at 100 observations per message the hub's
gen-0 collections took 0.39 s per 200,000 observations (about 2 µs each); untracked, 0.03 s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from schemas import bounds as b
from schemas.bounds import struct_pattern
from schemas.models import Observation

__all__ = [
    "CHECKED_BY_FAST_PATH",
    "Reading",
    "ReadingCoding",
    "ReadingComponent",
    "ReadingDevice",
    "ReadingRaw",
    "ReadingSource",
    "reading_of",
    "to_model",
]

_Short = Annotated[str, Meta(max_length=b.SHORT_TEXT_MAX)]
_Ident = Annotated[str, Meta(min_length=1, max_length=b.IDENTIFIER_MAX)]
_IdentChecked = Annotated[
    str, Meta(min_length=1, max_length=b.IDENTIFIER_MAX, pattern=struct_pattern(b.IDENTIFIER))
]
_Decimal = Annotated[str, Meta(max_length=b.DECIMAL_MAX)]
_Unit = Annotated[str, Meta(min_length=1, max_length=b.UCUM_UNIT_MAX)]
_Absent = Literal[
    "not-a-number", "positive-infinity", "negative-infinity", "error", "unknown", "unsupported"
]
_Time = Annotated[datetime, Meta(tz=True)]
"""A time with an offset (msgspec refuses one without); :mod:`hub.ingest.fastpath` turns it
into UTC."""

CHECKED_BY_FAST_PATH: dict[str, str] = {
    "Reading.id": b.IDENTIFIER,
    "ReadingDevice.id": b.IDENTIFIER,
    "ReadingSource.publisher": b.PUBLISHER,
    "Reading.value": b.DECIMAL,
    "ReadingComponent.value": b.DECIMAL,
    "Reading.unit": b.UCUM_UNIT,
    "ReadingComponent.unit": b.UCUM_UNIT,
    "ReadingCoding.system": b.UCUM_UNIT,
    "ReadingCoding.code": b.UCUM_UNIT,
}
"""Struct field -> the pattern :mod:`hub.ingest.fastpath` checks on it (cached per value).
Code systems and codes are held to printable ASCII (the models take any non-space text):
stricter, so the fast path declines what it cannot vouch for and the models judge it."""


class _Part(Struct, forbid_unknown_fields=True, gc=False):
    """A decoded part of a reading (see the module docstring on ``gc=False``)."""


class ReadingCoding(_Part):
    system: Annotated[str, Meta(min_length=1, max_length=b.CODE_SYSTEM_MAX)]
    code: Annotated[str, Meta(min_length=1, max_length=b.CODE_MAX)]
    display: _Short | None = None


class ReadingDevice(_Part):
    id: _Ident
    address: Annotated[str, Meta(pattern=struct_pattern(b.DEVICE_ADDRESS))] | None = None
    system_id: Annotated[str, Meta(pattern=struct_pattern(b.SYSTEM_ID))] | None = None
    serial: _Short | None = None
    manufacturer: _Short | None = None
    model: _Short | None = None
    firmware: _Short | None = None


class ReadingSource(_Part):
    publisher: Annotated[str, Meta(min_length=1, max_length=b.PUBLISHER_MAX)]
    device: ReadingDevice
    gateway: _IdentChecked | None = None


class ReadingRaw(_Part):
    format: Annotated[str, Meta(max_length=b.RAW_FORMAT_MAX, pattern=struct_pattern(b.RAW_FORMAT))]
    data: Annotated[str, Meta(max_length=b.HEX_BYTES_MAX, pattern=struct_pattern(b.HEX_BYTES))]


class ReadingComponent(_Part):
    code: Annotated[list[ReadingCoding], Meta(min_length=1, max_length=b.MAX_CODINGS)]
    value: _Decimal | None = None
    unit: _Unit | None = None
    data_absent_reason: _Absent | None = None


class Reading(_Part):
    """One accepted observation: the schema's Observation, ``effective`` in UTC."""

    id: _Ident
    source: ReadingSource
    code: Annotated[list[ReadingCoding], Meta(min_length=1, max_length=b.MAX_CODINGS)]
    effective: _Time
    device_time: _Short | None = None
    clock_corrected: bool = False
    sequence: Annotated[int, Meta(ge=0, le=b.SEQUENCE_MAX)] | None = None
    value: _Decimal | None = None
    unit: _Unit | None = None
    value_boolean: bool | None = None
    value_code: _IdentChecked | None = None
    components: Annotated[list[ReadingComponent], Meta(max_length=b.MAX_COMPONENTS)] = []
    data_absent_reason: _Absent | None = None
    body_site: _IdentChecked | None = None
    status: Literal["final", "preliminary"] = "final"
    flags: Annotated[
        list[Annotated[str, Meta(max_length=b.FLAG_MAX, pattern=struct_pattern(b.FLAG))]],
        Meta(max_length=b.MAX_STATUS_FLAGS),
    ] = []
    raw: ReadingRaw | None = None
    demo: bool = False


_TO_BUILTINS = msgspec.to_builtins
_FROM_MODEL = msgspec.json.Decoder(Reading)


def to_model(reading: Reading) -> Observation:
    """The schema model of a reading (validated by the models again, so exact)."""
    return Observation.model_validate(_TO_BUILTINS(reading))


def reading_of(model: Observation) -> Reading:
    """The reading of an observation the models accepted (its time already in UTC)."""
    return _FROM_MODEL.decode(model.model_dump_json(exclude_none=True))
