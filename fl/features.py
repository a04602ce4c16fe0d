"""The model's features: one function, :func:`window_features`, for training and serving.

Readings (from a hub's store or a synthetic cohort) are first reduced to a daily table per
resident (:func:`daily_table`: per measure the day's sum, sum of squares, count, maximum;
night-time motion events), then the features at a scoring time are computed from the 7
days before it: levels, trends (the last 2 days against the 5 before), slopes and
day-to-day variability of SpO2, pulse, temperature, systolic blood pressure and weight,
measurement adherence and night-time activity. Every feature is centred and scaled by fixed
clinical constants (no statistic of anyone's data), so all organisations share one scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "DAY_S",
    "FEATURES",
    "MEASURES",
    "MOTION",
    "WINDOW_DAYS",
    "DailyTable",
    "Reading",
    "daily_table",
    "daily_table_arrays",
    "measure_index",
    "window_features",
]

DAY_S = 86_400
WINDOW_DAYS = 7
RECENT_DAYS = 2
NIGHT_HOURS = (0, 5)  # local hours [start, end) that count as night
UTC_OFFSET_S = 3600  # Danish standard time; night is a coarse window, DST is ignored

MEASURES = ("spo2", "pulse", "temperature", "systolic", "weight")
"""The vital signs the model reads (canonical keys; see ``fl.sources`` for the codes)."""
_VITAL_COLS = len(MEASURES)

# Feature name -> (centre, scale): feature = (raw - centre) / scale.
_SPEC: dict[str, tuple[float, float]] = {
    "spo2_level": (95.0, 2.0),
    "spo2_trend": (0.0, 1.0),
    "spo2_slope": (0.0, 0.5),
    "spo2_variability": (0.8, 0.8),
    "pulse_level": (75.0, 10.0),
    "pulse_trend": (0.0, 5.0),
    "pulse_variability": (3.0, 3.0),
    "temperature_max": (37.0, 0.5),
    "temperature_trend": (0.0, 0.3),
    "systolic_level": (135.0, 15.0),
    "systolic_trend": (0.0, 8.0),
    "systolic_variability": (6.0, 6.0),
    "weight_trend": (0.0, 0.8),
    "weight_slope": (0.0, 0.3),
    "adherence": (0.7, 0.3),
    "adherence_trend": (0.0, 0.3),
    "night_motion": (2.0, 3.0),
    "night_motion_trend": (0.0, 2.0),
}
FEATURES: tuple[str, ...] = tuple(_SPEC)
_CENTRE = np.array([c for c, _ in _SPEC.values()])
_SCALE = np.array([s for _, s in _SPEC.values()])


@dataclass(frozen=True, slots=True)
class Reading:
    """One numeric reading of a resident: canonical measure key (or ``motion``), time, value."""

    resident_id: str
    measure: str
    t_s: float
    value: float


@dataclass(frozen=True)
class DailyTable:
    """Per day ``first_day + i`` (UTC days since the epoch): per vital sum, count, maximum;
    night-time motion events."""

    first_day: int
    total: np.ndarray  # (days, vitals)
    count: np.ndarray  # (days, vitals)
    maximum: np.ndarray  # (days, vitals), -inf where no reading
    night_motion: np.ndarray  # (days,)

    @property
    def days(self) -> int:
        return int(self.count.shape[0])


MOTION = len(MEASURES)
"""Measure index of room motion (value > 0: motion detected) in :func:`daily_table_arrays`."""


def measure_index(measure: str) -> int:
    """Index of a measure key (:data:`MEASURES` or ``motion``); -1 for one the model ignores."""
    if measure == "motion":
        return MOTION
    return MEASURES.index(measure) if measure in MEASURES else -1


def daily_table(readings: Iterable[Reading], first_day: int, days: int) -> DailyTable:
    """Reduce one resident's readings to daily aggregates over ``days`` days from
    ``first_day``; readings outside that span and unknown measures are ignored."""
    items = list(readings)
    return daily_table_arrays(
        np.array([measure_index(r.measure) for r in items], dtype=int),
        np.array([r.t_s for r in items], dtype=float),
        np.array([r.value for r in items], dtype=float),
        first_day,
        days,
    )


def daily_table_arrays(
    measure: np.ndarray, t_s: np.ndarray, value: np.ndarray, first_day: int, days: int
) -> DailyTable:
    """:func:`daily_table` on columns: measure index (see :func:`measure_index`), epoch
    seconds, value."""
    day = np.floor(t_s / DAY_S).astype(int) - first_day
    ok = (day >= 0) & (day < days) & np.isfinite(value) & (measure >= 0)
    vital = ok & (measure < MOTION)
    d, m, v = day[vital], measure[vital], value[vital]
    total = np.zeros((days, _VITAL_COLS))
    count = np.zeros((days, _VITAL_COLS))
    maximum = np.full((days, _VITAL_COLS), -np.inf)
    np.add.at(total, (d, m), v)
    np.add.at(count, (d, m), 1.0)
    np.maximum.at(maximum, (d, m), v)
    hour = ((t_s + UTC_OFFSET_S) % DAY_S // 3600).astype(int)
    moving = ok & (measure == MOTION) & (value > 0)
    moving &= (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])
    night = np.bincount(day[moving], minlength=days).astype(float)[:days]
    return DailyTable(first_day, total, count, maximum, night)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    n = np.sum(np.isfinite(x), axis=axis)
    s = np.nansum(x, axis=axis)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _slope(daily: np.ndarray) -> np.ndarray:
    """Least-squares slope per day of each row's finite values (NaN with fewer than 3)."""
    t = np.arange(daily.shape[-1], dtype=float)
    ok = np.isfinite(daily)
    n = ok.sum(axis=-1)
    tm = np.where(ok, t, 0.0).sum(axis=-1) / np.maximum(n, 1)
    ym = np.where(ok, daily, 0.0).sum(axis=-1) / np.maximum(n, 1)
    dt = np.where(ok, t - tm[..., None], 0.0)
    dy = np.where(ok, daily - ym[..., None], 0.0)
    den = (dt * dt).sum(axis=-1)
    return np.where((n >= 3) & (den > 0), (dt * dy).sum(axis=-1) / np.maximum(den, 1e-9), np.nan)


def _sd(daily: np.ndarray) -> np.ndarray:
    ok = np.isfinite(daily)
    n = ok.sum(axis=-1)
    m = np.where(ok, daily, 0.0).sum(axis=-1) / np.maximum(n, 1)
    var = np.where(ok, (daily - m[..., None]) ** 2, 0.0).sum(axis=-1) / np.maximum(n - 1, 1)
    return np.where(n >= 3, np.sqrt(var), np.nan)


def window_features(table: DailyTable, end_days: np.ndarray) -> np.ndarray:
    """Features at the start of each day in ``end_days`` (absolute day numbers) from the
    :data:`WINDOW_DAYS` days before it: shape ``(len(end_days), len(FEATURES))``, scaled;
    a feature with no data is 0 (the population centre)."""
    ends = np.asarray(end_days, dtype=int) - table.first_day
    if ends.size == 0:
        return np.zeros((0, len(FEATURES)))
    if ends.min() < WINDOW_DAYS or ends.max() > table.days:
        raise ValueError(
            f"scoring days {end_days} need {WINDOW_DAYS} days of readings before them "
            f"within the table's days {table.first_day}..{table.first_day + table.days}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(table.count > 0, table.total / np.maximum(table.count, 1), np.nan)
    win = sliding_window_view(mean, WINDOW_DAYS, axis=0)[ends - WINDOW_DAYS]  # (n, vitals, 7)
    top = sliding_window_view(table.maximum, WINDOW_DAYS, axis=0)[ends - WINDOW_DAYS]
    cnt = sliding_window_view(table.count, WINDOW_DAYS, axis=0)[ends - WINDOW_DAYS]
    night = sliding_window_view(table.night_motion, WINDOW_DAYS)[ends - WINDOW_DAYS]
    recent, base = win[..., -RECENT_DAYS:], win[..., :-RECENT_DAYS]
    level = _nanmean(recent, axis=-1)
    trend = level - _nanmean(base, axis=-1)
    slope, sd = _slope(win), _sd(win)
    s, p, t, b, w = (MEASURES.index(m) for m in MEASURES)
    measured = (cnt.sum(axis=1) > 0).astype(float)  # (n, 7): any vital that day
    adherence = measured.mean(axis=-1)
    adherence_trend = measured[:, -RECENT_DAYS:].mean(-1) - measured[:, :-RECENT_DAYS].mean(-1)
    tmax = np.max(top[:, t, -RECENT_DAYS:], axis=-1)
    raw = np.column_stack([
        level[:, s], trend[:, s], slope[:, s], sd[:, s],
        level[:, p], trend[:, p], sd[:, p],
        np.where(np.isfinite(tmax), tmax, np.nan), trend[:, t],
        level[:, b], trend[:, b], sd[:, b],
        trend[:, w], slope[:, w],
        adherence, adherence_trend,
        night[:, -RECENT_DAYS:].mean(-1),
        night[:, -RECENT_DAYS:].mean(-1) - night[:, :-RECENT_DAYS].mean(-1),
    ])  # fmt: skip
    scaled = (raw - _CENTRE) / _SCALE
    return np.asarray(np.clip(np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0), -8.0, 8.0))
