"""Labelled samples: one per resident and day, features from the 7 days before, label 1 when
a deterioration episode starts within the next 48 hours.

Days on which an episode started in the previous 3 days are left out (the resident is
already known to be unwell; the model is about what comes next), as are days without 48 h
of follow-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fl.features import DAY_S, FEATURES, WINDOW_DAYS, DailyTable, window_features

__all__ = ["HORIZON_S", "Samples", "build_samples"]

HORIZON_S = 2 * DAY_S
_ONGOING_S = 3 * DAY_S


@dataclass(frozen=True)
class Samples:
    """Rows of features ``x`` with labels ``y``; ``resident`` and ``day`` say whose and when."""

    x: np.ndarray
    y: np.ndarray
    resident: np.ndarray  # str
    day: np.ndarray  # int, day number (UTC days since the epoch) scored at its start

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def save(self, path: Path) -> None:
        np.savez_compressed(path, x=self.x, y=self.y, resident=self.resident, day=self.day)

    @classmethod
    def load(cls, path: Path) -> Samples:
        try:
            with np.load(path, allow_pickle=False) as f:
                out = cls(f["x"], f["y"], f["resident"], f["day"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a training-set file ({exc})") from exc
        if out.x.ndim != 2 or out.x.shape[1] != len(FEATURES) or len(out.y) != len(out.x):
            raise ValueError(f"{path}: features of shape {out.x.shape}, want (n, {len(FEATURES)})")
        return out

    def take(self, mask: np.ndarray) -> Samples:
        return Samples(self.x[mask], self.y[mask], self.resident[mask], self.day[mask])

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        return Samples(
            np.concatenate([p.x for p in parts]).reshape(-1, len(FEATURES)),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.resident for p in parts]),
            np.concatenate([p.day for p in parts]),
        )


def build_samples(
    tables: Mapping[str, DailyTable], onsets: Mapping[str, Sequence[float]]
) -> Samples:
    """Samples for every resident's daily table scored at the start of each day from its
    8th to the one 2 days before its end; ``onsets``: episode start times (epoch s)."""
    parts: list[Samples] = []
    for resident, table in tables.items():
        days = np.arange(table.first_day + WINDOW_DAYS, table.first_day + table.days - 1)
        starts = np.sort(np.asarray(onsets.get(resident, ()), dtype=float))
        t = days.astype(float) * DAY_S
        upcoming = np.searchsorted(starts, t + HORIZON_S) - np.searchsorted(starts, t)
        ongoing = np.searchsorted(starts, t) - np.searchsorted(starts, t - _ONGOING_S)
        keep = ongoing == 0
        if not keep.any():
            continue
        x = window_features(table, days[keep])
        y = (upcoming[keep] > 0).astype(np.int8)
        parts.append(Samples(x, y, np.full(len(y), resident), days[keep]))
    if not parts:
        empty = np.zeros(0, int)
        x0 = np.zeros((0, len(FEATURES)))
        return Samples(x0, empty.astype(np.int8), empty.astype(str), empty)
    return Samples.concat(parts)
