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
from functools import cache

from hub.alerts.config import RulesConfig, ThresholdRule
from hub.alerts.engine import SEVERITY_RANK
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
    "out_of_range",
    "scorable",
    "score",
    "threshold_rules",
    "thresholds_for",
]

NEWS2_MAX_AGE = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Vital:
    """A vital sign column/chart: a measure key (of ``schemas/codes.toml``), the measures it
    also shows (``also``: variants such as fast/slow SpO2) and how to show it."""

    key: str
    decimals: int
    news2: News2Parameter | None = None
    also: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        """The primary code of the vital's own measure."""
        return codes()[self.key].primary.code

    @property
    def codes(self) -> frozenset[str]:
        """Every code a stored sample of this vital may carry (see :func:`vital_codes`)."""
        return vital_codes(self.key, self.also)

    def pick(self, latest: Mapping[str, Sample]) -> Sample | None:
        """The newest of the resident's samples that carry one of this vital's codes."""
        found = [latest[c] for c in self.codes if c in latest]
        return max(found, key=lambda s: s.time) if found else None


_GLUCOSE = (
    "glucose_capillary_whole_blood",
    "glucose_capillary_plasma",
    "glucose_venous_whole_blood",
    "glucose_venous_plasma",
    "glucose_arterial_whole_blood",
    "glucose_arterial_plasma",
    "glucose_interstitial",
    "glucose_undetermined",
)
"""Every glucose sample type of the codes table but the meter's control solution."""

VITALS: tuple[Vital, ...] = (
    Vital("heart_rate", 0, News2Parameter.PULSE),
    Vital("pulse_rate_bp", 0, News2Parameter.PULSE),
    Vital(
        "pulse_rate_oximeter",
        0,
        News2Parameter.PULSE,
        ("pulse_rate_oximeter_fast", "pulse_rate_oximeter_slow"),
    ),
    Vital("spo2", 0, News2Parameter.SPO2_SCALE_1, ("spo2_fast", "spo2_slow")),
    Vital("blood_pressure_systolic", 0, News2Parameter.SYSTOLIC_BP),
    Vital("blood_pressure_diastolic", 0),
    Vital("respiration_rate", 0, News2Parameter.RESPIRATION_RATE),
    Vital("body_temperature", 1, News2Parameter.TEMPERATURE),
    Vital("body_weight", 1),
    *(Vital(key, 1) for key in _GLUCOSE),
)


@cache
def _owners() -> dict[str, frozenset[str]]:
    """Code -> the measures that carry it in any of their codings."""
    owners: dict[str, set[str]] = {}
    for measure in codes():
        for coding in measure.codings:
            owners.setdefault(coding.code, set()).add(measure.key)
    return {code: frozenset(keys) for code, keys in owners.items()}


@cache
def vital_codes(key: str, also: tuple[str, ...] = ()) -> frozenset[str]:
    """The codes of a vital: its measures' primary codes, and their other codings' codes
    (LOINC, NPU; a sample is stored under the first coding it was sent with) where those
    name no measure outside the vital (LOINC 2339-0 is any blood glucose: not matched)."""
    mine = frozenset((key, *also))
    out = set()
    for measure_key in mine:
        for index, coding in enumerate(codes()[measure_key].codings):
            if index == 0 or _owners()[coding.code] <= mine:
                out.add(coding.code)
    return frozenset(out)


@cache
def _variant_codes() -> frozenset[str]:
    """Primary codes of fast/slow variants (a measure with an MDC Supplemental-Types)."""
    return frozenset(m.primary.code for m in codes() if m.supplemental)


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
        sample = vital.pick(latest)
        if sample is not None:
            out.append(LatestValue(vital, sample, now - sample.time <= NEWS2_MAX_AGE))
    return out


def scorable(latest: Mapping[str, Sample]) -> dict[str, Sample]:
    """The samples NEWS2 may score: not a fast/slow variant (the normal reading counts)."""
    return {code: s for code, s in latest.items() if code not in _variant_codes()}


def score(values: Sequence[LatestValue]) -> News2Result | None:
    """NEWS2 over the fresh readings (the newest per parameter); None with none fresh."""
    chosen: dict[News2Parameter, Sample] = {}
    for item in values:
        parameter = item.vital.news2
        if parameter is None or not item.fresh or item.sample.code in _variant_codes():
            continue  # a fast/slow reading is shown, never scored in place of the normal one
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


def threshold_rules(vital: Vital, rules: RulesConfig | None) -> list[ThresholdRule]:
    """The enabled threshold rules of the loaded rules file that watch this vital."""
    if rules is None:
        return []
    wanted = {(c.system, c.code) for k in (vital.key, *vital.also) for c in codes()[k].codings}
    return [
        rule
        for rule in rules.rules
        if isinstance(rule, ThresholdRule)
        and rule.enabled
        and not rule.watch.keys().isdisjoint(wanted)
    ]


def thresholds_for(
    vital: Vital, rules: RulesConfig | None, language: str = "en"
) -> list[Threshold]:
    """The enabled threshold rules watching this vital, as chart lines (labels localised)."""
    return [
        Threshold(float(rule.value), limit_text(rule, language), rule.severity.value)
        for rule in threshold_rules(vital, rules)
    ]


def limit_text(rule: ThresholdRule, language: str) -> str:
    """``< 92``; ``> 38,5`` in Danish."""
    number = f"{rule.value:g}"
    return f"{rule.operator} {number.replace('.', ',') if language == 'da' else number}"


_OPS = {"<": Decimal.__lt__, "<=": Decimal.__le__, ">": Decimal.__gt__, ">=": Decimal.__ge__}


def out_of_range(vital: Vital, sample: Sample, rules: RulesConfig | None) -> ThresholdRule | None:
    """The most severe threshold rule this reading is beyond (in the rule's unit), if any."""
    beyond = []
    for rule in threshold_rules(vital, rules):
        value = convert(Decimal(str(sample.value)), sample.unit, rule.watch.unit())
        if value is not None and _OPS[rule.operator](value, Decimal(str(rule.value))):
            beyond.append(rule)
    return max(beyond, key=lambda r: SEVERITY_RANK[r.severity], default=None)
