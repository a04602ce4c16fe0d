"""Generate a cohort chunk by chunk: population, devices, episodes, readings, labels.

Residents are generated in chunks of :data:`CHUNK` with their own random stream
(``numpy.random.default_rng([seed, chunk])``), so memory stays bounded and the output for a
given seed is the same byte for byte whatever else runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from synth import frame as fr
from synth.activity import activity_readings, fall_readings, still_after_falls
from synth.episodes import Episodes, Falls, draw_episodes, draw_falls, effects
from synth.params import CONDITIONS, Params
from synth.population import KIND_INDEX, KINDS, Devices, Population, draw_devices, draw_population
from synth.vitals import Calendar, draw_levels, vital_readings

__all__ = ["CHUNK", "Chunk", "CohortSpec", "calendar", "chunks"]

CHUNK = 250
ZONE = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True)
class CohortSpec:
    residents: int
    days: int
    organisations: int
    seed: int
    start: date

    def __post_init__(self) -> None:
        if self.residents < 1:
            raise ValueError("--residents must be at least 1")
        if not 1 <= self.days <= 3660:
            raise ValueError("--days must be between 1 and 3660")
        if not 1 <= self.organisations <= self.residents:
            raise ValueError("--organisations must be between 1 and the number of residents")
        if self.seed < 0:
            raise ValueError("--seed must be 0 or more")


@dataclass
class Chunk:
    first: int  # index of the chunk's first resident in the cohort
    pop: Population
    devices: Devices
    faults: np.ndarray  # rows (device row, silent from, replaced at)
    episodes: Episodes
    falls: Falls
    readings: fr.Frame  # with a "dev" column: row in ``devices``; sorted by resident, time


def calendar(start: date, days: int) -> Calendar:
    """Local midnights (Europe/Copenhagen) as UTC epoch seconds."""
    stamps = [
        int(datetime.combine(start + timedelta(days=d), datetime.min.time(), ZONE).timestamp())
        for d in range(days + 1)
    ]
    return Calendar(np.array(stamps[:-1], dtype=np.int64))


def _attach_devices(readings: fr.Frame, devices: Devices, faults: np.ndarray, n: int) -> fr.Frame:
    """Each reading's device: the first one, none while it is silent, then its replacement."""
    k = len(KINDS)
    first = np.full((n, k), -1, np.int64)
    second = np.full((n, k), -1, np.int64)
    gen1 = devices.generation == 1
    first[devices.resident[gen1], devices.kind[gen1]] = np.nonzero(gen1)[0]
    second[devices.resident[~gen1], devices.kind[~gen1]] = np.nonzero(~gen1)[0]
    silent = np.full((n, k), np.iinfo(np.int64).max)
    back = np.full((n, k), np.iinfo(np.int64).max)
    if faults.size:
        rows = faults[:, 0]
        silent[devices.resident[rows], devices.kind[rows]] = faults[:, 1]
        back[devices.resident[rows], devices.kind[rows]] = faults[:, 2]
    res, kind, t = readings["res"], readings["dkind"], readings["t"]
    dev = np.where(t >= back[res, kind], second[res, kind], first[res, kind])
    keep = (dev >= 0) & ~((t >= silent[res, kind]) & (t < back[res, kind]))
    out = fr.take(readings, np.nonzero(keep)[0])
    out["dev"] = dev[keep]
    order = np.lexsort((out["rk"], out["t"], out["res"]))
    return fr.take(out, order)


def _chunk(spec: CohortSpec, params: Params, cal: Calendar, index: int) -> Chunk:
    rng = np.random.default_rng([spec.seed, index])
    first = index * CHUNK
    n = min(CHUNK, spec.residents - first)
    pop = draw_population(rng, params, n, spec.organisations, first=first, seed=spec.seed)
    t0 = int(cal.day_utc[0])
    t1 = t0 + spec.days * 86400
    devices, faults = draw_devices(
        rng, pop, first, t0=t0, t1=t1, fault_per_day=params.device_fault_per_day
    )
    eligible = {c: pop.conditions[:, i] for i, c in enumerate(CONDITIONS)}
    eligible[""] = np.ones(n, bool)
    episodes = draw_episodes(rng, params, eligible, spec.days)
    fx = effects(episodes, n, spec.days)
    levels = draw_levels(rng, params, pop, spec.days)
    falls = draw_falls(
        rng, params, pop.has("dementia"), pop.kit[:, KIND_INDEX["fd"]], days=spec.days
    )
    vitals = vital_readings(rng, params, pop, levels, fx=fx, cal=cal)
    rooms = activity_readings(rng, params, pop, fx, cal)
    rooms = fr.take(rooms, np.nonzero(still_after_falls(rooms, falls, cal))[0])
    events = fall_readings(rng, params, pop, falls, cal)
    readings = fr.concat([vitals, rooms, events])
    inside = (readings["t"] >= t0) & (readings["t"] < t1)
    readings = fr.take(readings, np.nonzero(inside)[0])
    return Chunk(
        first, pop, devices, faults, episodes, falls, _attach_devices(readings, devices, faults, n)
    )


def chunks(spec: CohortSpec, params: Params) -> Iterator[Chunk]:
    cal = calendar(spec.start, spec.days)
    for index in range((spec.residents + CHUNK - 1) // CHUNK):
        yield _chunk(spec, params, cal, index)


def iso(epoch_s: int | float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).isoformat().replace("+00:00", "Z")
