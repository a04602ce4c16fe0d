"""Deterioration episodes with prodromal trends, infections, and falls.

An episode has a prodrome (a linear ramp up to its peak effect over ``prodrome`` days before
the onset), a plateau (``hold`` days) and a linear recovery. Its effects add to the vital
signs on a 6-hourly grid (:class:`Effects`), and its severity slows the activity routine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.params import Params

__all__ = ["EPISODE_KINDS", "GRID_PER_DAY", "Effects", "Episodes", "draw_episodes", "draw_falls"]

GRID_PER_DAY = 4
EFFECT_MEASURES = ("spo2", "pulse", "systolic", "temperature", "weight")

# kind -> (condition that has it or "", prodrome (lo, hi), hold, recovery (lo, hi),
#          peak effects measure -> (mean, sd))
EPISODE_KINDS: dict[
    str, tuple[str, tuple[int, int], int, tuple[int, int], dict[str, tuple[float, float]]]
] = {
    "copd_exacerbation": (
        "copd",
        (3, 7),
        2,
        (7, 14),
        {
            "spo2": (-4.5, 1.2),
            "pulse": (9.0, 3.0),
            "temperature": (0.4, 0.2),
            "systolic": (3.0, 2.0),
        },
    ),
    "hf_decompensation": (
        "heart_failure",
        (5, 10),
        2,
        (4, 8),
        {"weight": (3.0, 0.7), "spo2": (-2.0, 0.8), "pulse": (7.0, 3.0), "systolic": (-4.0, 3.0)},
    ),
    "infection": (
        "",
        (1, 2),
        2,
        (3, 5),
        {"temperature": (2.1, 0.35), "pulse": (12.0, 4.0), "spo2": (-1.5, 0.8)},
    ),
}


@dataclass
class Episodes:
    resident: np.ndarray  # int
    kind: np.ndarray  # int (index in EPISODE_KINDS)
    onset: np.ndarray  # float, days since the cohort start
    prodrome: np.ndarray  # int days
    hold: np.ndarray
    recovery: np.ndarray
    peaks: dict[str, np.ndarray]  # measure -> peak effect per episode


@dataclass
class Effects:
    """Per measure, an (N, days * GRID_PER_DAY) grid of added effect; and illness 0..1."""

    grid: dict[str, np.ndarray]
    illness: np.ndarray

    def at(self, measure: str, resident: np.ndarray, day_float: np.ndarray) -> np.ndarray:
        grid = self.grid.get(measure)
        if grid is None:
            return np.zeros(resident.size)
        col = np.clip((day_float * GRID_PER_DAY).astype(np.int64), 0, grid.shape[1] - 1)
        return np.asarray(grid[resident, col], dtype=np.float64)


def _rates(params: Params) -> dict[str, float]:
    return {
        "copd_exacerbation": params.copd_exacerbation_rate,
        "hf_decompensation": params.hf_decompensation_rate,
        "infection": params.infection_rate,
    }


def draw_episodes(
    rng: np.random.Generator, params: Params, eligible: dict[str, np.ndarray], days: int
) -> Episodes:
    """Poisson onsets from 10 days before the start (so some are under way at the start)."""
    rates = _rates(params)
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []
    span = days + 10
    for k, (name, (condition, _, _, _, _)) in enumerate(EPISODE_KINDS.items()):
        mask = eligible[condition] if condition else eligible[""]
        counts = rng.poisson(rates[name] * span / 365.25, mask.size) * mask
        res = np.repeat(np.arange(mask.size), counts)
        parts.append((res, k, rng.uniform(-10, days, res.size)))
    resident = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([np.full(p[0].size, p[1]) for p in parts])
    onset = np.concatenate([p[2] for p in parts])
    specs = list(EPISODE_KINDS.values())
    prodrome = np.array([rng.integers(specs[k][1][0], specs[k][1][1] + 1) for k in kind], int)
    hold = np.array([specs[k][2] for k in kind], int)
    recovery = np.array([rng.integers(specs[k][3][0], specs[k][3][1] + 1) for k in kind], int)
    peaks = {m: np.zeros(kind.size) for m in EFFECT_MEASURES}
    for k, spec in enumerate(specs):
        sel = kind == k
        for measure, (mean, sd) in spec[4].items():
            peaks[measure][sel] = rng.normal(mean, sd, int(sel.sum()))
    order = np.lexsort((onset, resident))
    return Episodes(
        resident[order],
        kind[order],
        onset[order],
        prodrome[order],
        hold[order],
        recovery[order],
        {m: v[order] for m, v in peaks.items()},
    )


def _shape(
    x: np.ndarray, prodrome: np.ndarray, hold: np.ndarray, recovery: np.ndarray
) -> np.ndarray:
    up = np.clip((x + prodrome) / prodrome, 0, 1)
    down = np.clip(1 - (x - hold) / recovery, 0, 1)
    inside = (x >= -prodrome) & (x <= hold + recovery)
    return np.asarray(np.where(x < 0, up, down) * inside, dtype=float)


def effects(ep: Episodes, n: int, days: int) -> Effects:
    cols = days * GRID_PER_DAY
    length = ((ep.prodrome + ep.hold + ep.recovery + 1) * GRID_PER_DAY).astype(np.int64)
    first = np.floor((ep.onset - ep.prodrome) * GRID_PER_DAY).astype(np.int64)
    idx = np.repeat(np.arange(ep.kind.size), length)
    offset = np.arange(idx.size) - np.repeat(np.cumsum(length) - length, length)
    col = np.repeat(first, length) + offset
    keep = (col >= 0) & (col < cols)
    idx, col = idx[keep], col[keep]
    x = (col + 0.5) / GRID_PER_DAY - ep.onset[idx]
    weight = _shape(x, ep.prodrome[idx], ep.hold[idx], ep.recovery[idx])
    grid: dict[str, np.ndarray] = {}
    for measure, peak in ep.peaks.items():
        g = np.zeros((n, cols), np.float32)
        np.add.at(g, (ep.resident[idx], col), (peak[idx] * weight).astype(np.float32))
        grid[measure] = g
    illness = np.zeros((n, cols), np.float32)
    np.maximum.at(illness, (ep.resident[idx], col), weight.astype(np.float32))
    return Effects(grid, illness)


@dataclass
class Falls:
    resident: np.ndarray
    time: np.ndarray  # float days since start
    detected: np.ndarray  # bool: the fall detector reported it
    lying_minutes: np.ndarray


def draw_falls(
    rng: np.random.Generator,
    params: Params,
    dementia: np.ndarray,
    has_detector: np.ndarray,
    *,
    days: int,
) -> Falls:
    rate = params.fall_rate * np.where(dementia, params.fall_rate_dementia_factor, 1.0)
    counts = rng.poisson(rate * days / 365.25)
    res = np.repeat(np.arange(dementia.size), counts)
    # time of day: mostly while up (07-22 h), a quarter at night
    day = rng.integers(0, days, res.size)
    hour = np.where(
        rng.random(res.size) < 0.25, rng.uniform(0, 7, res.size), rng.uniform(7, 22, res.size)
    )
    detected = has_detector[res] & (rng.random(res.size) < params.fall_detection_sensitivity)
    lying = rng.gamma(2.0, 20.0, res.size)
    order = np.lexsort((day + hour / 24, res))
    return Falls(res[order], (day + hour / 24)[order], detected[order], lying[order])
