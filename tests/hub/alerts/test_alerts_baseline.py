"""The robust (median/MAD) score of a reading against a personal history."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts.baseline import RollingHistory, robust_score


def test_modified_z_score_by_hand() -> None:
    history = [70.0, 71.0, 72.0, 73.0, 74.0]  # median 72, |dev| 2 1 0 1 2 -> MAD 1
    assert robust_score(history, 72.0) == 0.0
    assert robust_score(history, 78.0) == pytest.approx(0.6745 * 6)
    assert robust_score(history, 66.0) == pytest.approx(-0.6745 * 6)


def test_one_outlier_does_not_move_the_baseline() -> None:
    history = [70.0, 71.0, 72.0, 73.0, 74.0, 250.0]  # a mis-read stays an outlier
    assert abs(robust_score(history, 72.5)) < 1.0


def test_zero_mad_falls_back_to_mean_absolute_deviation() -> None:
    history = [80.0] * 6 + [81.0, 82.0]  # MAD 0, meanAD = 3/8
    assert robust_score(history, 83.0) == pytest.approx(3.0 / (1.253314 * 3 / 8))
    assert robust_score([5.0] * 5, 5.0) == 0.0
    assert robust_score([5.0] * 5, 6.0) == math.inf


def test_rolling_history_prunes_by_time_and_count() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    history = RollingHistory(timedelta(days=7), max_samples=3)
    for day in range(5):
        history.add(t0 + timedelta(days=day), float(day))
    assert history.values() == [2.0, 3.0, 4.0]
    history.prune(t0 + timedelta(days=10))
    assert history.values() == [3.0, 4.0]
    with pytest.raises(ValueError, match="non-empty"):
        robust_score([], 1.0)
