"""NEWS2 scoring against the RCP NEWS2 chart (2017), computed by hand for each case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.alerts.news2 import News2Parameter as P
from hub.alerts.news2 import clinical_risk, news2, score_parameter

# Every band edge of the chart: (parameter, value, points).
BAND_EDGES = [
    (P.RESPIRATION_RATE, 8, 3), (P.RESPIRATION_RATE, 9, 1), (P.RESPIRATION_RATE, 11, 1),
    (P.RESPIRATION_RATE, 12, 0), (P.RESPIRATION_RATE, 20, 0), (P.RESPIRATION_RATE, 21, 2),
    (P.RESPIRATION_RATE, 24, 2), (P.RESPIRATION_RATE, 25, 3),
    (P.SPO2_SCALE_1, 91, 3), (P.SPO2_SCALE_1, 92, 2), (P.SPO2_SCALE_1, 93, 2),
    (P.SPO2_SCALE_1, 94, 1), (P.SPO2_SCALE_1, 95, 1), (P.SPO2_SCALE_1, 96, 0),
    (P.SYSTOLIC_BP, 90, 3), (P.SYSTOLIC_BP, 91, 2), (P.SYSTOLIC_BP, 100, 2),
    (P.SYSTOLIC_BP, 101, 1), (P.SYSTOLIC_BP, 110, 1), (P.SYSTOLIC_BP, 111, 0),
    (P.SYSTOLIC_BP, 219, 0), (P.SYSTOLIC_BP, 220, 3),
    (P.PULSE, 40, 3), (P.PULSE, 41, 1), (P.PULSE, 50, 1), (P.PULSE, 51, 0), (P.PULSE, 90, 0),
    (P.PULSE, 91, 1), (P.PULSE, 110, 1), (P.PULSE, 111, 2), (P.PULSE, 130, 2), (P.PULSE, 131, 3),
    (P.TEMPERATURE, "35.0", 3), (P.TEMPERATURE, "35.1", 1), (P.TEMPERATURE, "36.0", 1),
    (P.TEMPERATURE, "36.1", 0), (P.TEMPERATURE, "38.0", 0), (P.TEMPERATURE, "38.1", 1),
    (P.TEMPERATURE, "39.0", 1), (P.TEMPERATURE, "39.1", 2),
]  # fmt: skip


@pytest.mark.parametrize(("parameter", "value", "points"), BAND_EDGES)
def test_every_band_edge_of_the_chart(parameter: P, value: object, points: int) -> None:
    assert score_parameter(parameter, value) == points  # type: ignore[arg-type]


def test_values_are_rounded_as_charted() -> None:
    assert score_parameter(P.TEMPERATURE, "38.04") == 0  # charted 38.0
    assert score_parameter(P.TEMPERATURE, "38.05") == 1  # charted 38.1
    assert score_parameter(P.PULSE, "90.4") == 0
    assert score_parameter(P.PULSE, "90.5") == 1  # charted 91
    assert score_parameter(P.SPO2_SCALE_1, Decimal("95.5")) == 0  # charted 96


# Worked examples, scored by hand from the chart (points per parameter in the comment).
EXAMPLES = [
    # healthy adult: RR 16 (0), SpO2 98 (0), SBP 125 (0), pulse 72 (0), T 36.8 (0)
    ({P.RESPIRATION_RATE: 16, P.SPO2_SCALE_1: 98, P.SYSTOLIC_BP: 125, P.PULSE: 72,
      P.TEMPERATURE: "36.8"}, 0, "low"),
    # chest infection: RR 22 (2), SpO2 94 (1), SBP 118 (0), pulse 102 (1), T 38.4 (1)
    ({P.RESPIRATION_RATE: 22, P.SPO2_SCALE_1: 94, P.SYSTOLIC_BP: 118, P.PULSE: 102,
      P.TEMPERATURE: "38.4"}, 5, "medium"),
    # sepsis picture: RR 26 (3), SpO2 92 (2), SBP 98 (2), pulse 118 (2), T 39.4 (2)
    ({P.RESPIRATION_RATE: 26, P.SPO2_SCALE_1: 92, P.SYSTOLIC_BP: 98, P.PULSE: 118,
      P.TEMPERATURE: "39.4"}, 11, "high"),
    # a single red parameter: RR 18 (0), SpO2 97 (0), SBP 88 (3), pulse 80 (0), T 36.5 (0)
    ({P.RESPIRATION_RATE: 18, P.SPO2_SCALE_1: 97, P.SYSTOLIC_BP: 88, P.PULSE: 80,
      P.TEMPERATURE: "36.5"}, 3, "low-medium"),
    # borderline: RR 21 (2), SpO2 95 (1), SBP 105 (1), pulse 92 (1), T 35.8 (1)
    ({P.RESPIRATION_RATE: 21, P.SPO2_SCALE_1: 95, P.SYSTOLIC_BP: 105, P.PULSE: 92,
      P.TEMPERATURE: "35.8"}, 6, "medium"),
    # bradycardia and hypothermia: pulse 38 (3), T 34.9 (3), SpO2 96 (0) only
    ({P.PULSE: 38, P.TEMPERATURE: "34.9", P.SPO2_SCALE_1: 96}, 6, "medium"),
    # RR 24 (2), SpO2 93 (2), SBP 221 (3): 7
    ({P.RESPIRATION_RATE: 24, P.SPO2_SCALE_1: 93, P.SYSTOLIC_BP: 221}, 7, "high"),
]  # fmt: skip


@pytest.mark.parametrize(("values", "total", "risk"), EXAMPLES)
def test_worked_examples(values: dict[P, object], total: int, risk: str) -> None:
    result = news2(values)  # type: ignore[arg-type]
    assert result.total == total
    assert result.risk == risk


def test_missing_parameters_are_named() -> None:
    result = news2({P.PULSE: 80, P.SPO2_SCALE_1: 97})
    assert "respiration_rate" in result.missing
    assert "consciousness" in result.missing
    assert "air_or_oxygen" in result.missing
    assert "pulse" not in result.missing


def test_clinical_risk_bands() -> None:
    assert clinical_risk(4, any_three=False) == "low"
    assert clinical_risk(4, any_three=True) == "low-medium"
    assert clinical_risk(5, any_three=False) == "medium"
    assert clinical_risk(7, any_three=False) == "high"
