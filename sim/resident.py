"""A synthetic resident: circadian vital signs, movement between rooms, scripted incidents.

Pure and deterministic: every value is a function of the seed and the time asked for (the
clock is the caller's), so the same seed and time always give the same reading. Noise comes
from a generator seeded by (seed, signal, time bucket).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

__all__ = ["ROOMS", "Incident", "IncidentKind", "ResidentModel", "VitalSigns"]

IncidentKind = Literal["fever", "low_spo2", "fall", "inactivity"]
ROOMS = ("bedroom", "bathroom", "kitchen", "living_room", "hallway")

# Where the resident tends to be, by hour of day: (room, weight) pairs.
_SCHEDULE: dict[range, tuple[tuple[str, float], ...]] = {
    range(7): (("bedroom", 0.92), ("bathroom", 0.06), ("hallway", 0.02)),
    range(7, 9): (("bathroom", 0.35), ("kitchen", 0.45), ("hallway", 0.2)),
    range(9, 12): (("living_room", 0.6), ("kitchen", 0.2), ("hallway", 0.1), ("bathroom", 0.1)),
    range(12, 14): (("kitchen", 0.6), ("living_room", 0.3), ("bathroom", 0.1)),
    range(14, 18): (("living_room", 0.7), ("hallway", 0.1), ("bathroom", 0.1), ("kitchen", 0.1)),
    range(18, 22): (("kitchen", 0.3), ("living_room", 0.55), ("bathroom", 0.15)),
    range(22, 24): (("bedroom", 0.7), ("bathroom", 0.2), ("hallway", 0.1)),
}


@dataclass(frozen=True, slots=True)
class Incident:
    kind: IncidentKind
    start: datetime
    duration: timedelta = timedelta(minutes=30)

    def active(self, when: datetime) -> bool:
        return self.start <= when < self.start + self.duration


@dataclass(frozen=True, slots=True)
class VitalSigns:
    heart_rate_bpm: int
    body_temperature_celsius: float
    spo2_percent: int
    systolic_mmhg: int
    diastolic_mmhg: int
    weight_kg: float
    glucose_mmol_per_l: float
    respiration_per_min: int

    @property
    def mean_arterial_mmhg(self) -> int:
        return round(self.diastolic_mmhg + (self.systolic_mmhg - self.diastolic_mmhg) / 3)


class ResidentModel:
    """One resident of one home. ``incidents`` are scripted events at absolute times."""

    def __init__(self, seed: int, incidents: tuple[Incident, ...] = ()) -> None:
        self.seed = seed
        self.incidents = incidents

    def _noise(self, signal: int, when: datetime, bucket_s: int = 60) -> float:
        bucket = int(when.timestamp()) // bucket_s
        rng = np.random.default_rng([self.seed, signal, bucket & 0xFFFFFFFF])
        return float(rng.standard_normal())

    def _incident(self, kind: IncidentKind, when: datetime) -> Incident | None:
        return next((i for i in self.incidents if i.kind == kind and i.active(when)), None)

    def vitals(self, when: datetime) -> VitalSigns:
        """The vital signs at ``when``: a circadian rhythm (low at 04:00) plus noise."""
        hours = when.hour + when.minute / 60
        phase = math.cos(2 * math.pi * (hours - 16) / 24)  # +1 at 16:00, -1 at 04:00
        fever = self._incident("fever", when) is not None
        hypoxia = self._incident("low_spo2", when) is not None
        temperature = 36.8 + 0.3 * phase + 0.08 * self._noise(1, when) + (2.1 if fever else 0)
        heart = 68 + 8 * phase + 3 * self._noise(2, when) + (18 if fever else 0)
        spo2 = 96.5 + 0.8 * self._noise(3, when) - (9 if hypoxia else 0)
        systolic = 128 + 8 * phase + 5 * self._noise(4, when, 300)
        diastolic = 78 + 4 * phase + 3 * self._noise(5, when, 300)
        glucose = (
            6.2
            + 1.2 * max(0.0, math.sin(2 * math.pi * (hours - 7) / 6))
            + 0.3 * (self._noise(6, when, 900))
        )
        return VitalSigns(
            heart_rate_bpm=round(heart),
            body_temperature_celsius=round(temperature, 2),
            spo2_percent=max(70, min(100, round(spo2))),
            systolic_mmhg=round(systolic),
            diastolic_mmhg=round(diastolic),
            weight_kg=round(72.4 + 0.2 * self._noise(7, when, 86_400), 1),
            glucose_mmol_per_l=round(glucose, 1),
            respiration_per_min=round(14 + 1.5 * self._noise(8, when) + (6 if fever else 0)),
        )

    def room(self, when: datetime) -> str:
        """The room the resident is in (stays put after a fall, for as long as it lasts)."""
        fall = self._incident("fall", when)
        if fall is not None:
            return self.room(fall.start - timedelta(seconds=1))
        slot = int(when.timestamp()) // 600  # a new choice every ten minutes
        rng = np.random.default_rng([self.seed, 99, slot & 0xFFFFFFFF])
        choices = next(c for hours, c in _SCHEDULE.items() if when.hour in hours)
        rooms = [r for r, _ in choices]
        weights = np.array([w for _, w in choices])
        return str(rng.choice(rooms, p=weights / weights.sum()))

    def moving(self, when: datetime) -> bool:
        """Whether a motion sensor in the resident's room sees movement at ``when``."""
        if self._incident("inactivity", when) or self._incident("fall", when):
            return False
        asleep = when.hour < 6 or when.hour >= 23
        bucket = int(when.timestamp()) // 30
        rng = np.random.default_rng([self.seed, 42, bucket & 0xFFFFFFFF])
        return bool(rng.random() < (0.05 if asleep else 0.6))

    def fell_between(self, start: datetime, end: datetime) -> bool:
        """Whether a scripted fall began in ``[start, end)`` (the pendant reports it once)."""
        return any(i.kind == "fall" and start <= i.start < end for i in self.incidents)
