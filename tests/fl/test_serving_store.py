"""Serving reads a real hub SQLite store (observation and sample tables) through the same
feature function as training; a hub's own training set comes from its store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fl.artefact import make_artefact
from fl.features import DAY_S, FEATURES, Reading, daily_table, window_features
from fl.model import N_PARAMS
from fl.serving import samples_from_store, score_residents
from fl.sources import episodes_from_readings, readings_from_store
from hub.config import RetentionSettings
from hub.db import open_db
from hub.store.base import StoredObservation
from hub.store.sqlite import SqliteStore
from schemas.builders import component, make_observation
from schemas.models import DeviceInfo, Source

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _stored(key: str, at: datetime, resident: str, **fields: object) -> StoredObservation:
    src = Source(publisher="gw-1", device=DeviceInfo(id=f"{resident}-{key}"))
    obs = make_observation(key, source=src, effective=at, **fields)
    return StoredObservation(obs, "gw-1", resident, at)


def _fill(store: SqliteStore) -> None:
    items = []
    for day in range(8):
        at = T0 + timedelta(days=day, hours=9)
        ill_spo2 = "95" if day < 5 else "88"  # falls over the last days
        items += [
            _stored("spo2", at, "r-ill", value=ill_spo2),
            _stored("spo2", at, "r-well", value="97"),
            _stored("body_temperature", at, "r-ill", value="37.0" if day < 6 else "38.4"),
            _stored("blood_pressure", at, "r-ill", components=[
                component("blood_pressure_systolic", "128"),
                component("blood_pressure_diastolic", "80")]),
            _stored("motion", at.replace(hour=2), "r-ill", value_boolean=True),
        ]  # fmt: skip
    store.write(items)


def test_serving_reads_the_store_with_the_training_feature_function(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite3"
    store = SqliteStore(open_db(db), RetentionSettings(raw_days=30))
    _fill(store)
    readings = readings_from_store(db, T0.timestamp(), (T0 + timedelta(days=8)).timestamp())
    measures = {r.measure for r in readings["r-ill"]}
    assert measures == {"spo2", "temperature", "systolic", "motion"}  # systolic from `sample`
    params = np.zeros(N_PARAMS)
    params[FEATURES.index("spo2_trend")] = -1.0
    model = make_artefact(params, {"rounds": 1}, {})
    now = (T0 + timedelta(days=8, hours=6)).timestamp()
    scores = score_residents(db, model, now)
    assert [s.resident_id for s in scores] == ["r-ill", "r-well"]
    assert scores[0].model_version == model.version
    assert scores[0].top_features[0][0] == "spo2_trend"
    # the same numbers as training computes from the same readings
    day = int(now // DAY_S)
    items = [Reading("r-ill", r.measure, r.t_s, r.value) for r in readings["r-ill"]]
    x = window_features(daily_table(items, day - 7, 7), np.array([day]))
    assert scores[0].risk == float(1 / (1 + np.exp(-(x[0] @ params[:-1]))))
    # a hub's own labels: the first red-flag reading (SpO2 <= 91) after a quiet spell
    assert episodes_from_readings(readings["r-ill"]) == [
        (T0 + timedelta(days=5, hours=9)).timestamp()
    ]
    assert episodes_from_readings(readings["r-well"]) == []
    samples = samples_from_store(db, 8, now)
    assert samples.x.shape[1] == len(FEATURES)
    store.close()
