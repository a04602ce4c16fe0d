"""Scoring a hub's residents with the accepted model, and training sets from a hub's store.

Both read the store through :func:`fl.sources.readings_from_store` and compute features
with :func:`fl.features.window_features`: the same function as in training.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fl.artefact import Artefact
from fl.dataset import Samples, build_samples
from fl.features import DAY_S, WINDOW_DAYS, daily_table, window_features
from fl.model import contributions, predict
from fl.sources import episodes_from_readings, readings_from_store

__all__ = ["Score", "samples_from_store", "score_residents"]


@dataclass(frozen=True)
class Score:
    resident_id: str
    risk: float
    top_features: list[tuple[str, float]]
    model_version: str
    day: int  # scored at the start of this day (UTC days since the epoch)


def score_residents(db: Path | sqlite3.Connection, model: Artefact, now_s: float) -> list[Score]:
    """Every resident with readings in the 7 days before today (UTC), highest risk first."""
    end_day = int(now_s // DAY_S)
    first = end_day - WINDOW_DAYS
    readings = readings_from_store(db, first * DAY_S, end_day * DAY_S)
    out = []
    for resident, items in readings.items():
        table = daily_table(items, first, WINDOW_DAYS)
        x = window_features(table, np.array([end_day]))
        risk = float(predict(model.params, x)[0])
        top = contributions(model.params, x[0])
        out.append(Score(resident, risk, top, model.version, end_day))
    return sorted(out, key=lambda s: -s.risk)


def samples_from_store(db: Path, days: int, now_s: float) -> Samples:
    """A hub's training set from its last ``days`` days: labels are the store's own
    deterioration episodes (:func:`fl.sources.episodes_from_readings`)."""
    end_day = int(now_s // DAY_S)
    first = end_day - days
    readings = readings_from_store(db, first * DAY_S, end_day * DAY_S)
    tables = {r: daily_table(items, first, days) for r, items in readings.items()}
    onsets = {r: episodes_from_readings(items) for r, items in readings.items()}
    return build_samples(tables, onsets)
