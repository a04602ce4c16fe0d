"""The codes table (``schemas/codes.toml``) as typed, read-only data."""

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
class Measure:
    """One row of the codes table."""

    key: str
    display: str
    display_da: str
    kind: Kind
    units: tuple[str, ...] = ()
    mdc: str | None = None
    loinc: str | None = None
    npu: str | None = None
    vital: bool = False
    events: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    verify: bool = False
    codings: tuple[Coding, ...] = field(default=(), compare=False)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False)
    """Per unit, the (min, max) a reading can possibly have; values outside are refused."""

    @property
    def unit(self) -> str | None:
        """The preferred UCUM unit."""
        return self.units[0] if self.units else None

    @property
    def primary(self) -> Coding:
        return self.codings[0]


def _codings(key: str, row: dict[str, object], display: str) -> tuple[Coding, ...]:
    out: list[Coding] = []
    if isinstance(row.get("mdc"), str):
        out.append(Coding(system=MDC_SYSTEM, code=str(row["mdc"]), display=display))
    else:
        out.append(Coding(system=HJEM_SYSTEM, code=key, display=display))
    if isinstance(row.get("loinc"), str):
        out.append(Coding(system=LOINC_SYSTEM, code=str(row["loinc"])))
    if isinstance(row.get("npu"), str):
        out.append(Coding(system=NPU_SYSTEM, code=str(row["npu"])))
    return tuple(out)


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


class CodesTable:
    """Look-ups over the codes table: by Hjem key, and by (system, code) of any coding."""

    def __init__(self, measures: dict[str, Measure]) -> None:
        self._by_key = measures
        self._by_primary: dict[tuple[str, str], list[Measure]] = {}
        for measure in measures.values():
            primary = measure.primary
            self._by_primary.setdefault((primary.system, primary.code), []).append(measure)

    @classmethod
    def from_toml(cls, text: str) -> CodesTable:
        data = tomllib.loads(text)
        measures: dict[str, Measure] = {}
        for key, row in data["measure"].items():
            display = str(row["display"])
            measures[key] = Measure(
                key=key,
                display=display,
                display_da=str(row.get("display_da", display)),
                kind=row["kind"],
                units=tuple(row.get("units", ())),
                mdc=row.get("mdc"),
                loinc=row.get("loinc"),
                npu=row.get("npu"),
                vital=bool(row.get("vital", False)),
                events=tuple(row.get("events", ())),
                components=tuple(row.get("components", ())),
                verify=bool(row.get("verify", False)),
                codings=_codings(key, row, display),
                ranges=_ranges(key, row),
            )
        return cls(measures)

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


@cache
def codes() -> CodesTable:
    """The shipped codes table (parsed once)."""
    text = resources.files("schemas").joinpath("codes.toml").read_text(encoding="utf-8")
    return CodesTable.from_toml(text)
