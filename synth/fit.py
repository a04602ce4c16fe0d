"""Fit the population parameters from real readings with differential-privacy noise.

Every statistic is a mean over residents of a per-resident quantity clipped to a fixed
range [lo, hi], so one resident changes it by at most (hi - lo) / n: the Laplace mechanism
adds noise of scale sensitivity / epsilon_i, with the total epsilon split evenly over the
released statistics (sequential composition). No per-resident value is kept: the output is
a :class:`~synth.params.Params` (population level, between-person spread, day-to-day AR(1)
coefficient, reading noise per measure; the rate of febrile spells). The number of residents
is treated as public. Condition prevalences and effects cannot be seen in readings: they
keep their cited defaults (docs/synthetic.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from synth.data import Long
from synth.params import Params

__all__ = ["FIT_MEASURES", "fit_params", "per_resident"]

FIT_MEASURES = ("spo2", "pulse", "systolic", "diastolic", "temperature")
STATS_PER_MEASURE = 4


def per_resident(long: Long, measure: str) -> dict[str, np.ndarray]:
    """Per resident: mean, SD of readings around their daily means, lag-1 autocorrelation
    of daily means (NaN where undefined)."""
    part = long.of(measure)
    out: dict[str, list[float]] = {"mean": [], "sd": [], "phi": []}
    order = np.lexsort((part.t, part.resident))
    res, t, v = part.resident[order], part.t[order], part.value[order]
    cuts = np.nonzero(res[1:] != res[:-1])[0] + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, res.size], strict=True):
        days = t[lo:hi] // 86400
        vals = v[lo:hi]
        uniq, inv = np.unique(days, return_inverse=True)
        daily = np.bincount(inv, vals) / np.bincount(inv)
        out["mean"].append(float(vals.mean()))
        out["sd"].append(float((vals - daily[inv]).std()) if vals.size > uniq.size else np.nan)
        consecutive = np.diff(uniq) == 1
        if consecutive.sum() >= 3:
            a, b = daily[:-1][consecutive], daily[1:][consecutive]
            sa, sb = a.std(), b.std()
            out["phi"].append(float(np.corrcoef(a, b)[0, 1]) if sa > 0 and sb > 0 else np.nan)
        else:
            out["phi"].append(np.nan)
    return {k: np.array(x) for k, x in out.items()}


def _dp_mean(rng: np.random.Generator, x: np.ndarray, lo: float, hi: float, eps: float) -> float:
    x = np.clip(x[~np.isnan(x)], lo, hi)
    if x.size == 0:
        return (lo + hi) / 2
    return float(np.clip(x.mean() + rng.laplace(0, (hi - lo) / x.size / eps), lo, hi))


def fit_params(long: Long, epsilon: float, *, seed: int = 0, base: Params | None = None) -> Params:
    if not epsilon > 0:
        raise ValueError("--epsilon must be positive")
    rng = np.random.default_rng(seed)
    base = base or Params()
    eps = epsilon / (len(FIT_MEASURES) * STATS_PER_MEASURE + 1)
    vitals = dict(base.vitals)
    for measure in FIT_MEASURES:
        vp = base.vitals[measure]
        stats = per_resident(long, measure)
        if stats["mean"].size < 2:
            continue
        lo, hi = vp.lo, vp.hi
        mean = _dp_mean(rng, stats["mean"], lo, hi, eps)
        spread = (hi - lo) / 4
        centred = np.abs(stats["mean"] - np.clip(stats["mean"], lo, hi).mean())
        between = _dp_mean(rng, centred, 0, spread, eps) * np.sqrt(np.pi / 2)
        noise = _dp_mean(rng, stats["sd"], 0, spread, eps)
        phi = _dp_mean(rng, stats["phi"], -1, 1, eps)
        vitals[measure] = replace(
            vp,
            mean=mean,
            between_sd=between,
            offsets={},
            ar_phi=float(np.clip(phi, 0, 0.95)),
            noise_sd=noise,
        )
    return replace(base, vitals=vitals, infection_rate=_fever_rate(rng, long, eps, base))


def _fever_rate(rng: np.random.Generator, long: Long, eps: float, base: Params) -> float:
    """Febrile spells (days with a reading >= 38.5 not preceded by one) per resident-year."""
    part = long.of("temperature")
    rates = []
    for resident in np.unique(part.resident):
        mine = part.resident == resident
        days = np.unique(part.t[mine] // 86400)
        hot = np.unique(part.t[mine][part.value[mine] >= 38.5] // 86400)
        spells = int((np.diff(np.r_[-10, hot]) > 1).sum()) if hot.size else 0
        span = max(1, days.max() - days.min() + 1)
        rates.append(spells / span * 365.25)
    if not rates:
        return base.infection_rate
    return _dp_mean(rng, np.array(rates), 0.0, 12.0, eps)
