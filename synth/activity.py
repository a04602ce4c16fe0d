"""Room-sensor activity: waking, meals, bathroom at night, going out; slower when ill.

Each visit to a room is one ``motion`` reading of that room's sensor. Illness (0..1, from
the episodes) makes the resident get up later, visit the kitchen and living room less and
the bathroom more at night; dementia adds night-time wandering. After a fall the resident
lies still: no motion until they are found or get up.
"""

from __future__ import annotations

import numpy as np

from synth import frame as fr
from synth.episodes import GRID_PER_DAY, Effects, Falls
from synth.params import Params
from synth.population import KIND_INDEX, Population
from synth.vitals import Calendar

__all__ = ["activity_readings", "fall_readings"]


def _events(
    rng: np.random.Generator, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``counts`` (N, D) events per day, each uniform in that day's [lo, hi) hours."""
    res, day = np.nonzero(counts)
    reps = counts[res, day]
    res, day = np.repeat(res, reps), np.repeat(day, reps)
    hour = rng.uniform(lo[res, day], hi[res, day])
    return res, day, hour


def activity_readings(
    rng: np.random.Generator, params: Params, pop: Population, fx: Effects, cal: Calendar
) -> fr.Frame:
    n, days = pop.n, cal.days
    ill = fx.illness.reshape(n, days, GRID_PER_DAY).mean(axis=2)
    wake = (
        rng.normal(params.wake_hour_mean, params.wake_hour_sd, (n, 1))
        + rng.normal(0, 0.4, (n, days))
        + 1.5 * ill
    )
    bed = params.bed_hour_mean + rng.normal(0, 0.5, (n, days)) - 0.5 * ill
    wake, bed = np.clip(wake, 5.0, 11.5), np.clip(bed, 19.5, 23.9)
    dementia = pop.has("dementia")[:, None]
    hf = pop.has("heart_failure")[:, None]
    night_mean = params.night_bathroom_mean * (1 + 0.3 * hf) + 1.5 * ill
    zeros = np.zeros((n, days))
    plan = [  # (room, counts, from hour, to hour)
        ("mbed", np.ones((n, days), np.int64), wake - 0.05, wake),
        ("mbath", rng.poisson(night_mean), zeros + 0.0, wake - 0.2),
        ("mbath", rng.poisson(np.full((n, days), 3.0)), wake, bed),
        ("mkit", rng.poisson(params.kitchen_visits_mean * (1 - 0.5 * ill)), wake, bed),
        ("mliv", rng.poisson(params.living_visits_mean * (1 - 0.4 * ill)), wake, bed),
        ("mliv", rng.poisson(0.6 * dementia * np.ones((n, days))), zeros + 0.5, wake - 0.5),
        ("mbed", np.ones((n, days), np.int64), bed, bed + 0.05),
        ("door", rng.poisson(np.clip(0.7 * (1 - ill), 0, None)), wake + 1, bed - 1),
    ]
    frames = []
    for room, counts, lo, hi in plan:
        res, day, hour = _events(rng, counts.astype(np.int64), lo, np.maximum(hi, lo + 0.01))
        rk = fr.DOOR if room == "door" else fr.MOTION
        frames.append(fr.make(res=res, dkind=KIND_INDEX[room], rk=rk, t=cal.utc(day, hour)))
    return fr.concat(frames)


def fall_readings(
    rng: np.random.Generator, params: Params, pop: Population, falls: Falls, cal: Calendar
) -> fr.Frame:
    """Detected falls (``fall``) and the detector's false alarms (``possible_fall``)."""
    day = np.floor(falls.time).astype(np.int64)
    t = cal.utc(day, (falls.time - day) * 24) + rng.integers(5, 40, falls.time.size)
    det = falls.detected
    fd = KIND_INDEX["fd"]
    real = fr.make(res=falls.resident[det], dkind=fd, rk=fr.FALL, t=t[det])
    has = pop.kit[:, fd]
    counts = rng.poisson(params.false_fall_alarm_per_day * cal.days * has)
    res = np.repeat(np.arange(pop.n), counts)
    fday = rng.integers(0, cal.days, res.size)
    false = fr.make(
        res=res, dkind=fd, rk=fr.POSSIBLE_FALL, t=cal.utc(fday, rng.uniform(0, 24, res.size))
    )
    return fr.concat([real, false])


def still_after_falls(readings: fr.Frame, falls: Falls, cal: Calendar) -> np.ndarray:
    """Mask of motion/door readings to keep: none while a fallen resident lies on the floor."""
    keep = np.ones(readings["t"].size, bool)
    if falls.time.size == 0:
        return keep
    day = np.floor(falls.time).astype(np.int64)
    start = cal.utc(day, (falls.time - day) * 24)
    end = start + (falls.lying_minutes * 60).astype(np.int64)
    room = np.nonzero((readings["rk"] == fr.MOTION) | (readings["rk"] == fr.DOOR))[0]
    key = readings["res"][room] * (1 << 33) + readings["t"][room]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    lo = np.searchsorted(sorted_key, falls.resident * (1 << 33) + start)
    hi = np.searchsorted(sorted_key, falls.resident * (1 << 33) + end)
    for a, b in zip(lo, hi, strict=True):
        keep[room[order[a:b]]] = False
    return keep
