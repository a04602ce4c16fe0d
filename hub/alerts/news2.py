"""NEWS2 (Royal College of Physicians, 2017) for the parameters a home can measure.

Scored here: respiration rate, SpO2 (scale 1, or scale 2 where a clinician prescribed it for
the resident: :meth:`hub.registry.core.Registry.set_spo2_scale`), systolic blood pressure, pulse,
temperature. Not measurable at home and therefore **not scored** (a total computed here can
under-state the clinical NEWS2 by up to 3 + 2 points): level of consciousness (ACVPU; new
confusion or worse scores 3) and air or supplemental oxygen (oxygen scores 2). Scale 2 is
scored as on air (the chart, RCP 2017, as in Thorax's table: <=83 3, 84-85 2, 86-87 1,
88-92 and >=93 on air 0): for a resident on oxygen, 93-94 / 95-96 / >=97 % would score
1 / 2 / 3, so the home subset under-states those by that much.

Readings are rounded as they would be charted: whole numbers for rates, SpO2 and pressure,
one decimal for temperature (half up).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "NOT_SCORED_AT_HOME",
    "News2Parameter",
    "News2Result",
    "clinical_risk",
    "news2",
    "score_parameter",
]

NOT_SCORED_AT_HOME = ("consciousness", "air_or_oxygen")


class News2Parameter(enum.StrEnum):
    RESPIRATION_RATE = "respiration_rate"
    SPO2_SCALE_1 = "spo2_scale_1"
    SPO2_SCALE_2 = "spo2_scale_2"
    SYSTOLIC_BP = "systolic_bp"
    PULSE = "pulse"
    TEMPERATURE = "temperature"


# (upper bound inclusive, points); the last band has bound None (and above).
_BANDS: dict[News2Parameter, tuple[tuple[Decimal | None, int], ...]] = {
    News2Parameter.RESPIRATION_RATE: (
        (Decimal(8), 3),
        (Decimal(11), 1),
        (Decimal(20), 0),
        (Decimal(24), 2),
        (None, 3),
    ),
    News2Parameter.SPO2_SCALE_1: (
        (Decimal(91), 3),
        (Decimal(93), 2),
        (Decimal(95), 1),
        (None, 0),
    ),
    News2Parameter.SPO2_SCALE_2: (  # on air: >= 88 scores 0 (oxygen is not known at home)
        (Decimal(83), 3),
        (Decimal(85), 2),
        (Decimal(87), 1),
        (None, 0),
    ),
    News2Parameter.SYSTOLIC_BP: (
        (Decimal(90), 3),
        (Decimal(100), 2),
        (Decimal(110), 1),
        (Decimal(219), 0),
        (None, 3),
    ),
    News2Parameter.PULSE: (
        (Decimal(40), 3),
        (Decimal(50), 1),
        (Decimal(90), 0),
        (Decimal(110), 1),
        (Decimal(130), 2),
        (None, 3),
    ),
    News2Parameter.TEMPERATURE: (
        (Decimal("35.0"), 3),
        (Decimal("36.0"), 1),
        (Decimal("38.0"), 0),
        (Decimal("39.0"), 1),
        (None, 2),
    ),
}


def _charted(parameter: News2Parameter, value: Decimal) -> Decimal:
    step = Decimal("0.1") if parameter is News2Parameter.TEMPERATURE else Decimal(1)
    return value.quantize(step, rounding=ROUND_HALF_UP)


def score_parameter(parameter: News2Parameter, value: Decimal | float | str) -> int:
    """Points (0-3) for one parameter's value, from the NEWS2 chart."""
    charted = _charted(parameter, Decimal(str(value)))
    for bound, points in _BANDS[parameter]:
        if bound is None or charted <= bound:
            return points
    raise AssertionError("unreachable: the last band is open")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class News2Result:
    total: int
    points: dict[News2Parameter, int]
    missing: tuple[str, ...]
    """Parameters without a recent reading, plus those never measurable at home."""

    @property
    def any_three(self) -> bool:
        return any(p == 3 for p in self.points.values())

    @property
    def risk(self) -> str:
        return clinical_risk(self.total, self.any_three)


def clinical_risk(total: int, any_three: bool) -> str:
    """The NEWS2 clinical risk band: low, low-medium (a single 3), medium (5-6), high (7+)."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any_three:
        return "low-medium"
    return "low"


def news2(values: dict[News2Parameter, Decimal | float | str]) -> News2Result:
    """The NEWS2 total for the parameters given (the home subset); give SpO2 on one scale."""
    points = {parameter: score_parameter(parameter, v) for parameter, v in values.items()}
    scales = {News2Parameter.SPO2_SCALE_1, News2Parameter.SPO2_SCALE_2}
    absent = [p for p in News2Parameter if p not in values and p is not News2Parameter.SPO2_SCALE_2]
    if scales & values.keys():  # SpO2 is one parameter, scored on one of its two scales
        absent = [p for p in absent if p not in scales]
    missing = tuple(p.value for p in absent) + NOT_SCORED_AT_HOME
    return News2Result(total=sum(points.values()), points=points, missing=missing)
