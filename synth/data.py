"""Readings as a long table (resident, measure, time, value) from a cohort or a hub store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CODE_MEASURE", "Long", "load"]

# primary code (MDC) in a hub store -> the model's measure
CODE_MEASURE = {
    "150456": "spo2",
    "149530": "pulse",
    "149546": "pulse",
    "150021": "systolic",
    "150022": "diastolic",
    "150364": "temperature",
    "188736": "weight",
}
_PARQUET_MEASURE = {
    "spo2": "spo2",
    "pulse_rate_oximeter": "pulse",
    "pulse_rate_bp": "pulse",
    "body_temperature": "temperature",
    "body_weight": "weight",
}


@dataclass
class Long:
    resident: np.ndarray  # str
    measure: np.ndarray  # str
    t: np.ndarray  # int64 epoch s
    value: np.ndarray  # float

    def of(self, measure: str) -> Long:
        m = self.measure == measure
        return Long(self.resident[m], self.measure[m], self.t[m], self.value[m])


def _from_parquet(path: Path) -> Long:
    import pyarrow.parquet as pq

    table = pq.read_table(
        path, columns=["resident", "measure", "effective", "value", "value2", "artefact"]
    ).to_pydict()
    res, mea, ts, vals = [], [], [], []
    for r, m, t, v, v2, art in zip(
        table["resident"],
        table["measure"],
        table["effective"],
        table["value"],
        table["value2"],
        table["artefact"],
        strict=True,
    ):
        if art or v is None:
            continue
        stamp = int(t.timestamp())
        if m == "blood_pressure":
            res += [r, r]
            mea += ["systolic", "diastolic"]
            ts += [stamp, stamp]
            vals += [v, v2]
        elif m in _PARQUET_MEASURE:
            res.append(r)
            mea.append(_PARQUET_MEASURE[m])
            ts.append(stamp)
            vals.append(v)
    return Long(
        np.array(res, dtype=object),
        np.array(mea, dtype=object),
        np.array(ts, np.int64),
        np.array(vals, float),
    )


def _from_store(path: Path) -> Long:
    from synth.hubio import read_store

    rows = [r for r in read_store(path) if r[1] in CODE_MEASURE]
    return Long(
        np.array([r[0] for r in rows], dtype=object),
        np.array([CODE_MEASURE[r[1]] for r in rows], dtype=object),
        np.array([r[2] // 1_000_000 for r in rows], np.int64),
        np.array([r[3] for r in rows], float),
    )


def load(path: Path) -> Long:
    """A cohort directory (observations.parquet) or a hub's SQLite database."""
    if path.is_dir():
        parquet = path / "observations.parquet"
        if not parquet.exists():
            raise ValueError(f"{path}: no observations.parquet (generate with --formats parquet)")
        return _from_parquet(parquet)
    if path.is_file():
        return _from_store(path)
    raise ValueError(f"{path}: neither a cohort directory nor a hub database")
