"""Which vital signs the dashboard shows, their latest values and the NEWS2 score.

Pure functions over :class:`~hub.store.base.Sample` values: no storage, no clock (``now`` is
passed in). A reading counts towards the early-warning score only while it is fresh
(:data:`NEWS2_MAX_AGE`); older readings are shown but listed as missing from the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from hub.alerts.config import RulesConfig, ThresholdRule
from hub.alerts.inputs import convert
from hub.alerts.news2 import News2Parameter, News2Result, news2
from hub.store.base import Sample
from hub.web.charts import Threshold
from schemas.codes import codes

__all__ = [
    "NEWS2_MAX_AGE",
    "VITALS",
    "LatestValue",
    "Vital",
    "display_unit",
    "format_value",
    "latest_values",
    "score",
    "thresholds_for",
]

NEWS2_MAX_AGE = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Vital:
    """A vital sign column/chart: a measure key (of ``schemas/codes.toml``) and how to show it."""

    key: str
    decimals: int
    news2: News2Parameter | None = None

    @property
    def code(self) -> str:
        return codes()[self.key].primary.code


VITALS: tuple[Vital, ...] = (
    Vital("heart_rate", 0, News2Parameter.PULSE),
    Vital("pulse_rate_oximeter", 0, News2Parameter.PULSE),
    Vital("spo2", 0, News2Parameter.SPO2_SCALE_1),
    Vital("blood_pressure_systolic", 0, News2Parameter.SYSTOLIC_BP),
    Vital("blood_pressure_diastolic", 0),
    Vital("respiration_rate", 0, News2Parameter.RESPIRATION_RATE),
    Vital("body_temperature", 1, News2Parameter.TEMPERATURE),
    Vital("body_weight", 1),
    Vital("glucose_capillary_plasma", 1),
)

_UNIT_TEXT = {"Cel": "°C", "[degF]": "°F", "mm[Hg]": "mmHg", "/min": "/min", "%": "%"}
_NEWS2_UNITS = {News2Parameter.TEMPERATURE: "Cel", News2Parameter.SYSTOLIC_BP: "mm[Hg]"}


def display_unit(unit: str | None) -> str:
    """UCUM as people write it (``Cel`` -> ``°C``, ``mm[Hg]`` -> ``mmHg``)."""
    if not unit:
        return ""
    return _UNIT_TEXT.get(unit, unit.replace("[", "").replace("]", ""))


def format_value(value: float, decimals: int, language: str) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if language == "da" else text


@dataclass(frozen=True, slots=True)
class LatestValue:
    vital: Vital
    sample: Sample
    fresh: bool


def latest_values(latest: Mapping[str, Sample], now: datetime) -> list[LatestValue]:
    """The newest sample of each dashboard vital the resident has, in display order."""
    out = []
    for vital in VITALS:
        sample = latest.get(vital.code)
        if sample is not None:
            out.append(LatestValue(vital, sample, now - sample.time <= NEWS2_MAX_AGE))
    return out


def score(values: Sequence[LatestValue]) -> News2Result | None:
    """NEWS2 over the fresh readings (the newest per parameter); None with none fresh."""
    chosen: dict[News2Parameter, Sample] = {}
    for item in values:
        parameter = item.vital.news2
        if parameter is None or not item.fresh:
            continue
        best = chosen.get(parameter)
        if best is None or item.sample.time > best.time:
            chosen[parameter] = item.sample
    inputs: dict[News2Parameter, Decimal | float | str] = {}
    for parameter, sample in chosen.items():
        value: Decimal | None = Decimal(str(sample.value))
        target = _NEWS2_UNITS.get(parameter)
        if target is not None and sample.unit and sample.unit != target:
            value = convert(Decimal(str(sample.value)), sample.unit, target)
        if value is not None:
            inputs[parameter] = value
    return news2(inputs) if inputs else None


def thresholds_for(
    vital: Vital, rules: RulesConfig | None, language: str = "en"
) -> list[Threshold]:
    """The enabled threshold rules watching this vital, as chart lines (labels localised)."""
    if rules is None:
        return []
    wanted = codes()[vital.key].primary
    out = []
    for rule in rules.rules:
        if not isinstance(rule, ThresholdRule) or not rule.enabled:
            continue
        if any(c.system == wanted.system and c.code == wanted.code for c in rule.watch.codings()):
            number = f"{rule.value:g}"
            label = f"{rule.operator} {number.replace('.', ',') if language == 'da' else number}"
            out.append(Threshold(float(rule.value), label, rule.severity.value))
    return out
