"""The codes table (``schemas/codes.toml``) as typed, read-only data.

Every standard code lists the units it allows (a LOINC or NPU term fixes its property:
mass or substance concentration, kg, °C, mmHg), so an observation carries only the codes
that agree with the unit it is sent in (:meth:`Measure.codings_for`), and the validation
refuses a (code, unit) pair the table does not allow (:meth:`CodesTable.units_of`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from schemas.models import Coding

__all__ = [
    "HJEM_SYSTEM",
    "LOINC_SYSTEM",
    "MDC_SYSTEM",
    "NPU_SYSTEM",
    "CodeUnits",
    "CodesTable",
    "Measure",
    "UnknownMeasureError",
    "codes",
]

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
LOINC_SYSTEM = "http://loinc.org"
NPU_SYSTEM = "urn:oid:1.2.208.176.2.1"
HJEM_SYSTEM = "urn:hjem:code"

Kind = Literal["quantity", "boolean", "event", "compound"]


class UnknownMeasureError(KeyError):
    """A measure key that is not in the codes table."""


@dataclass(frozen=True, slots=True)
class CodeUnits:
    """One coding of a measure and the units a reading may have with it (empty: no unit)."""

    coding: Coding
    units: frozenset[str]


@dataclass(frozen=True, slots=True)
class Measure:
    """One row of the codes table."""

    key: str
    display: str
    display_da: str
    kind: Kind
    units: tuple[str, ...] = ()
    mdc: str | None = None
    loinc: str | None = None
    """The first LOINC code (see :attr:`coded` for all, with their units)."""
    npu: str | None = None
    vital: bool = False
    events: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    supplemental: str | None = None
    """MDC Supplemental-Types code (pulse oximeter modality), if any."""
    coded: tuple[CodeUnits, ...] = field(default=(), compare=False)
    """Every coding, primary first, with the units each allows."""
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False)
    """Per unit, the (min, max) a reading can possibly have; values outside are refused."""

    @property
    def unit(self) -> str | None:
        """The preferred UCUM unit."""
        return self.units[0] if self.units else None

    @property
    def codings(self) -> tuple[Coding, ...]:
        """Every coding of the measure in any unit (for matching, never to send as is)."""
        return tuple(c.coding for c in self.coded)

    @property
    def primary(self) -> Coding:
        return self.coded[0].coding

    def codings_for(self, unit: str | None) -> tuple[Coding, ...]:
        """The codings a reading in ``unit`` carries: the primary coding, then every code
        that allows ``unit``. Without a unit (no value), the codes that allow all units."""
        wanted = frozenset(self.units) if unit is None else frozenset({unit})
        return tuple(c.coding for i, c in enumerate(self.coded) if i == 0 or wanted <= c.units)


def _coded(key: str, row: dict[str, object], display: str) -> tuple[CodeUnits, ...]:
    units = frozenset(str(u) for u in row.get("units", ()))  # type: ignore[attr-defined]
    hjem = CodeUnits(Coding(system=HJEM_SYSTEM, code=key, display=display), units)
    out: list[CodeUnits] = []
    if isinstance(row.get("mdc"), str):
        mdc = CodeUnits(Coding(system=MDC_SYSTEM, code=str(row["mdc"]), display=display), units)
        out += [hjem, mdc] if row.get("primary") == "hjem" else [mdc]
    else:
        out.append(hjem)
    for name, system in (("loinc", LOINC_SYSTEM), ("npu", NPU_SYSTEM)):
        out += _standard(key, name, system, row.get(name), units)
    return tuple(out)


def _standard(
    key: str, name: str, system: str, given: object, units: frozenset[str]
) -> list[CodeUnits]:
    """The LOINC or NPU codes of a row, each with the units it allows."""
    if given is None:
        return []
    if isinstance(given, str):
        if units:
            raise ValueError(f"measure {key}: {name} {given!r} must list the units it allows")
        return [CodeUnits(Coding(system=system, code=given), frozenset())]
    if not isinstance(given, list):
        raise TypeError(f"measure {key}: {name} must be a code or a list of code tables")
    out = []
    for entry in given:
        allowed = frozenset(str(u) for u in entry.get("units", ()))
        if not allowed or not allowed <= units:
            raise ValueError(
                f"measure {key}: {name} {entry.get('code')!r} allows units {sorted(allowed)}"
                f" that are not a non-empty subset of the measure's {sorted(units)}"
            )
        out.append(CodeUnits(Coding(system=system, code=str(entry["code"])), allowed))
    return out


def _ranges(key: str, row: dict[str, object]) -> dict[str, tuple[float, float]]:
    given = row.get("range", {})
    if not isinstance(given, dict):
        raise TypeError(f"measure {key}: range must map units to [min, max]")
    out: dict[str, tuple[float, float]] = {}
    for unit, bounds in given.items():
        if unit not in row.get("units", ()):  # type: ignore[operator]
            raise ValueError(f"measure {key}: range for unit {unit!r} it does not allow")
        low, high = (float(b) for b in bounds)
        if not low < high:
            raise ValueError(f"measure {key}: range {low}..{high} for {unit!r} is empty")
        out[str(unit)] = (low, high)
    return out


def _measure(key: str, row: dict[str, object]) -> Measure:
    display = str(row["display"])
    coded = _coded(key, row, display)
    if "verify" in row:
        raise ValueError(f"measure {key}: 'verify' is gone; confirm the code and name its source")
    first = {
        s: next((c.coding.code for c in coded if c.coding.system == s), None)
        for s in (LOINC_SYSTEM, NPU_SYSTEM)
    }
    return Measure(
        key=key,
        display=display,
        display_da=str(row.get("display_da", display)),
        kind=row["kind"],  # type: ignore[arg-type]
        units=tuple(row.get("units", ())),  # type: ignore[arg-type]
        mdc=row.get("mdc"),  # type: ignore[arg-type]
        loinc=first[LOINC_SYSTEM],
        npu=first[NPU_SYSTEM],
        vital=bool(row.get("vital", False)),
        events=tuple(row.get("events", ())),  # type: ignore[arg-type]
        components=tuple(row.get("components", ())),  # type: ignore[arg-type]
        supplemental=row.get("supplemental"),  # type: ignore[arg-type]
        coded=coded,
        ranges=_ranges(key, row),
    )


class CodesTable:
    """Look-ups over the codes table: by Hjem key, and by (system, code) of any coding."""

    def __init__(self, measures: dict[str, Measure]) -> None:
        self._by_key = measures
        self._by_primary: dict[tuple[str, str], list[Measure]] = {}
        self._units: dict[tuple[str, str], set[str]] = {}
        for measure in measures.values():
            primary = measure.primary
            self._by_primary.setdefault((primary.system, primary.code), []).append(measure)
            for item in measure.coded:
                key = (item.coding.system, item.coding.code)
                self._units.setdefault(key, set()).update(item.units)

    @classmethod
    def from_toml(cls, text: str) -> CodesTable:
        data = tomllib.loads(text)
        return cls({key: _measure(key, row) for key, row in data["measure"].items()})

    def __getitem__(self, key: str) -> Measure:
        try:
            return self._by_key[key]
        except KeyError:
            raise UnknownMeasureError(f"measure {key!r} is not in schemas/codes.toml") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def by_primary(self, system: str, code: str) -> list[Measure]:
        """The measures whose primary coding is (system, code); several share an MDC code."""
        return list(self._by_primary.get((system, code), ()))

    def units_of(self, system: str, code: str) -> frozenset[str] | None:
        """The units a reading coded (system, code) may have: the union over every measure
        that carries the code. None when the table does not know the code."""
        found = self._units.get((system, code))
        return None if found is None else frozenset(found)


@cache
def codes() -> CodesTable:
    """The shipped codes table (parsed once)."""
    text = resources.files("schemas").joinpath("codes.toml").read_text(encoding="utf-8")
    return CodesTable.from_toml(text)
