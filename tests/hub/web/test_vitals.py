"""Latest values and NEWS2 on the dashboard: freshness, unit conversion, thresholds."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

from hub.alerts.config import parse_rules
from hub.alerts.news2 import News2Parameter
from hub.store.base import Sample
from hub.web.api import Measure
from hub.web.vitals import (
    NEWS2_MAX_AGE,
    VITALS,
    display_unit,
    format_value,
    latest_values,
    scorable,
    score,
    thresholds_for,
)
from tests.support.browser import RULES

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def sample(
    key: str, value: float, unit: str | None, age: timedelta = timedelta(minutes=5)
) -> Sample:
    vital = next(v for v in VITALS if v.key == key)
    return Sample(NOW - age, value, unit, vital.code, "o-1", "dev-1", "r-1")


def latest(*samples: Sample) -> dict[str, Sample]:
    return {s.code: s for s in samples}


def test_news2_from_fresh_readings_only() -> None:
    values = latest_values(
        latest(
            sample("respiration_rate", 25, "/min"),  # 3
            sample("spo2", 93, "%"),  # 2
            sample("heart_rate", 95, "/min"),  # 1
            sample("body_temperature", 39.2, "Cel", NEWS2_MAX_AGE + timedelta(minutes=1)),
        ),
        NOW,
    )
    assert [v.fresh for v in values] == [True, True, True, False]
    result = score(values)
    assert result is not None
    assert result.total == 6
    assert result.risk == "medium"
    assert "temperature" in result.missing


def test_fahrenheit_temperature_is_converted_for_news2() -> None:
    result = score(latest_values(latest(sample("body_temperature", 102.2, "[degF]")), NOW))
    assert result is not None
    # 102.2 °F is 39.0 °C: 38.1-39.0 scores 1 point
    assert result.total == 1


def test_no_fresh_readings_no_score() -> None:
    old = sample("spo2", 97, "%", timedelta(days=2))
    assert score(latest_values(latest(old), NOW)) is None


def test_units_and_numbers_as_people_read_them() -> None:
    assert display_unit("Cel") == "°C"
    assert display_unit("mm[Hg]") == "mmHg"
    assert display_unit(None) == ""
    assert format_value(37.25, 1, "da") == "37,2"
    assert format_value(37.26, 1, "en") == "37.3"


def test_threshold_rules_become_chart_lines() -> None:
    rules = parse_rules(RULES)
    temperature = next(v for v in VITALS if v.key == "body_temperature")
    spo2 = next(v for v in VITALS if v.key == "spo2")
    weight = next(v for v in VITALS if v.key == "body_weight")
    [fever] = thresholds_for(temperature, rules)
    assert (fever.value, fever.label, fever.severity) == (38.5, "> 38.5", "high")
    [fever_da] = thresholds_for(temperature, rules, "da")
    assert fever_da.label == "> 38,5"
    [low] = thresholds_for(spo2, rules)
    assert (low.value, low.severity) == (92.0, "critical")
    assert thresholds_for(weight, rules) == []
    assert thresholds_for(temperature, None) == []


def test_api_measure_literal_matches_the_vitals() -> None:
    assert set(typing.get_args(Measure)) == {v.key for v in VITALS}


def test_fast_spo2_is_shown_but_never_scored_in_place_of_the_normal_reading() -> None:
    """Issue 14: normal 97 % (0 points) and a newer fast 88 % (would be 3 points)."""
    normal = sample("spo2", 97, "%", timedelta(minutes=2))
    fast = Sample(NOW - timedelta(minutes=1), 88, "%", "spo2_fast", "o-2", "dev-1", "r-1")
    both = latest(normal, fast)
    shown = latest_values(both, NOW)
    assert [v.sample.value for v in shown] == [88]  # the chart shows the newest variant
    result = score(latest_values(scorable(both), NOW))
    assert result is not None
    assert result.points == {News2Parameter.SPO2_SCALE_1: 0}
