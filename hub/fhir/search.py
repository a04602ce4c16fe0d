"""Observation search parameters: parsing them into a store filter, and the paging cursor.

Supported (and nothing else; any other parameter is refused with 400): ``patient``
(``r-...`` or ``Patient/r-...``, comma = or), ``code`` (``system|code`` or ``code``; a LOINC or
other code of the codes table matches the readings whose primary code carries it), ``date``
and ``_lastUpdated`` (prefixes ``eq``, ``ge``, ``gt``, ``le``, ``lt``; a date or a date-time,
at its precision; repeat to AND), ``category`` (``[system|]code``, e.g. ``vital-signs``,
``phd``), ``_count`` (1-1000, default 100), ``_include=Observation:device`` and ``_cursor``
(opaque, from a ``next`` link). Results are ordered by effective time.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hub.db import to_micros
from schemas.codes import codes

__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "OBSERVATION_PARAMS",
    "ObservationSearch",
    "SearchError",
    "decode_cursor",
    "encode_cursor",
    "parse_observation_search",
]

DEFAULT_COUNT = 100
MAX_COUNT = 1000
OBSERVATION_PARAMS = (
    "patient",
    "subject",
    "code",
    "date",
    "category",
    "_lastUpdated",
    "_count",
    "_include",
    "_cursor",
    "_format",
)
_PREFIXES = ("eq", "ge", "gt", "le", "lt")


class SearchError(ValueError):
    """A search parameter that cannot be used: names the parameter and the problem."""

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        super().__init__(f"search parameter {parameter}: {problem}")


@dataclass(slots=True)
class Range:
    """Microsecond bounds [lower, upper); None: open."""

    lower: int | None = None
    upper: int | None = None

    def narrow(self, lower: int | None, upper: int | None) -> None:
        if lower is not None:
            self.lower = lower if self.lower is None else max(self.lower, lower)
        if upper is not None:
            self.upper = upper if self.upper is None else min(self.upper, upper)


@dataclass(slots=True)
class ObservationSearch:
    patients: list[str] | None = None
    codes: list[tuple[str, str]] | None = None
    categories: list[tuple[str | None, str]] | None = None
    effective: Range = field(default_factory=Range)
    updated: Range = field(default_factory=Range)
    count: int = DEFAULT_COUNT
    include_device: bool = False
    after: tuple[int, int] | None = None


def _instant(parameter: str, text: str) -> tuple[int, int]:
    """The value's interval at its precision, in microseconds [start, end)."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return to_micros(day), to_micros(day + timedelta(days=1))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SearchError(parameter, f"{text!r} is not a date or date-time") from exc
    if moment.tzinfo is None:
        raise SearchError(parameter, f"{text!r} needs a time zone (Z or +hh:mm)")
    step = timedelta(microseconds=1) if moment.microsecond else timedelta(seconds=1)
    return to_micros(moment), to_micros(moment + step)


def _narrow(bounds: Range, parameter: str, value: str) -> None:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    start, end = _instant(parameter, value[2:] if value[:2] in _PREFIXES else value)
    limits = {
        "eq": (start, end),
        "ge": (start, None),
        "gt": (end, None),
        "le": (None, end),
        "lt": (None, start),
    }[prefix]
    bounds.narrow(*limits)


def _codes(value: str) -> list[tuple[str, str]]:
    """Stored primary (system, code) pairs that a ``code`` token matches."""
    pairs: set[tuple[str, str]] = set()
    for token in value.split(","):
        system, _, code = token.rpartition("|")
        if not code:
            raise SearchError("code", f"{token!r} has no code")
        pairs.add((system, code) if system else ("", code))
        for measure in codes():
            if any(c.code == code and system in {"", c.system} for c in measure.codings):
                pairs.add((measure.primary.system, measure.primary.code))
    return sorted(p for p in pairs if p[0])


def _patients(value: str) -> list[str]:
    out = []
    for token in value.split(","):
        rid = token.removeprefix("Patient/")
        if not rid or "/" in rid:
            raise SearchError("patient", f"{token!r} is not a Patient id or reference")
        out.append(rid)
    return out


def _apply(search: ObservationSearch, name: str, value: str) -> None:
    if name in {"patient", "subject"}:
        search.patients = [*(search.patients or []), *_patients(value)]
    elif name == "code":
        search.codes = sorted({*(search.codes or []), *_codes(value)})
    elif name == "date":
        _narrow(search.effective, name, value)
    elif name == "_lastUpdated":
        _narrow(search.updated, name, value)
    elif name == "category":
        found = [t.rpartition("|") for t in value.split(",")]
        search.categories = [(s or None, c) for s, _, c in found]
    elif name == "_count":
        if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
            raise SearchError(name, f"{value!r} is not a number from 1 to {MAX_COUNT}")
        search.count = int(value)
    elif name == "_include":
        if value != "Observation:device":
            raise SearchError(name, f"only Observation:device is supported, not {value!r}")
        search.include_device = True
    elif name == "_cursor":
        search.after = decode_cursor(value)
    elif name == "_format" and value not in {"json", "application/fhir+json"}:
        raise SearchError(name, "only json is served")


def parse_observation_search(params: list[tuple[str, str]]) -> ObservationSearch:
    """The search the parameters ask for; :class:`SearchError` names a bad one."""
    search = ObservationSearch()
    for name, value in params:
        if name not in OBSERVATION_PARAMS:
            raise SearchError(name, f"not supported (supported: {', '.join(OBSERVATION_PARAMS)})")
        _apply(search, name, value)
    return search


def encode_cursor(position: tuple[int, int]) -> str:
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        effective, row = json.loads(raw)
        return int(effective), int(row)
    except (ValueError, TypeError) as exc:
        raise SearchError("_cursor", "not a cursor this server made") from exc
