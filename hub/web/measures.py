"""A resident's other measures: readings no dashboard vital shows, listed rather than dropped.

A sample is stored under its observation's first code (:func:`hub.store.base.samples_of`).
A dashboard vital shows the codes of its measures (:func:`hub.web.vitals.vital_codes`, a
vendor's LOINC or NPU code first included where it names that vital only). Everything else the
resident has is listed in a table on the resident's page, unless the codes table knows it as a
measure that is not a vital sign (room sensors, batteries: the home's page shows those):

* a code the codes table does not know (the vendor got an ``unknown-code`` notice);
* a code shared by several vitals (LOINC 8867-4 is any pulse rate, 2339-0 any blood glucose);
* a vital sign without a dashboard column (BMI, height, mean arterial pressure, ...).

None of them is charted, scored or watched by rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from hub.store.base import Sample
from hub.web.vitals import VITALS, display_unit
from schemas.codes import codes

__all__ = ["OtherValue", "other_measures"]


@dataclass(frozen=True, slots=True)
class OtherValue:
    code: str
    name: str
    """The measures the code names (English or Danish), empty for an unknown code."""
    sample: Sample
    text: str
    unit: str


@cache
def _shown_codes() -> frozenset[str]:
    return frozenset(code for vital in VITALS for code in vital.codes)


@cache
def _owners(code: str) -> tuple[tuple[str, str, bool], ...]:
    """(English name, Danish name, vital sign) of each measure that carries ``code``."""
    return tuple(
        (m.display, m.display_da, m.vital)
        for m in codes()
        if any(c.code == code for c in m.codings)
    )


def _text(value: float, language: str) -> str:
    """The value as sent, as far as a float keeps it (``12.5`` -> ``12,5`` in Danish)."""
    text = f"{value:.10g}"
    return text.replace(".", ",") if language == "da" else text


def other_measures(latest: Mapping[str, Sample], language: str) -> list[OtherValue]:
    """The resident's newest sample of each code no vital shows (see the module), by code."""
    out = []
    for code in sorted(set(latest) - _shown_codes()):
        owners = _owners(code)
        if owners and not any(vital for _, _, vital in owners):
            continue
        names = sorted({da if language == "da" else en for en, da, _ in owners})
        sample = latest[code]
        out.append(
            OtherValue(
                code,
                " / ".join(names),
                sample,
                _text(sample.value, language),
                display_unit(sample.unit),
            )
        )
    return out
