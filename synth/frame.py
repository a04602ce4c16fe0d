"""A column table of readings (numpy arrays), and the reading kinds the cohort writes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["COLUMNS", "READING_KINDS", "Frame", "concat", "empty"]

# reading kind -> (measure key in schemas/codes.toml, device kind key)
READING_KINDS: tuple[tuple[str, str], ...] = (
    ("blood_pressure", "bp"),  # 0: systolic, diastolic, mean in v1..v3
    ("blood_pressure", "bp"),  # 1: cuff error: data_absent_reason "error"
    ("pulse_rate_bp", "bp"),  # 2
    ("spo2", "ox"),  # 3
    ("pulse_rate_oximeter", "ox"),  # 4
    ("body_temperature", "th"),  # 5
    ("body_weight", "sc"),  # 6
    ("glucose_capillary_plasma", "gl"),  # 7
    ("motion", ""),  # 8: device kind from the room (v1 = room sensor kind index)
    ("opening", "door"),  # 9
    ("fall", "fd"),  # 10: value_code "fall"
    ("fall", "fd"),  # 11: value_code "possible_fall"
)
BP, BP_ERROR, PULSE_BP, SPO2, PULSE_OX, TEMPERATURE, WEIGHT, GLUCOSE = range(8)
MOTION, DOOR, FALL, POSSIBLE_FALL = range(8, 12)

COLUMNS = ("res", "dkind", "rk", "t", "v1", "v2", "v3", "artefact")
Frame = dict[str, np.ndarray]
_DTYPES = {
    "res": np.int64,
    "dkind": np.int64,
    "rk": np.int64,
    "t": np.int64,
    "v1": np.float64,
    "v2": np.float64,
    "v3": np.float64,
    "artefact": np.bool_,
}


def empty() -> Frame:
    return {c: np.zeros(0, _DTYPES[c]) for c in COLUMNS}


def make(**columns: np.ndarray | float | int) -> Frame:
    """A frame from columns; scalars are broadcast, missing value columns are NaN."""
    size = max(np.size(v) for v in columns.values() if isinstance(v, np.ndarray))
    out: Frame = {}
    for name in COLUMNS:
        value = columns.get(name, np.nan if name.startswith("v") else 0)
        out[name] = np.broadcast_to(np.asarray(value, _DTYPES[name]), (size,)).copy()
    return out


def concat(frames: Sequence[Frame]) -> Frame:
    if not frames:
        return empty()
    return {c: np.concatenate([f[c] for f in frames]) for c in COLUMNS}


def take(frame: Frame, index: np.ndarray) -> Frame:
    return {c: v[index] for c, v in frame.items()}
