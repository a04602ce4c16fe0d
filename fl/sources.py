"""Where readings come from: a hub's SQLite store (serving, and training at a hub) and the
labels derived from it; the synthetic cohort is read by ``fl.cohort``.

The store is read with plain SQL on its ``observation`` and ``sample`` tables (numeric
values and the numeric components of compound observations such as blood pressure), over
a read-only connection: the model never writes to a hub's store.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from fl.features import DAY_S, Reading

__all__ = ["CODE_MEASURE", "RED_FLAGS", "episodes_from_readings", "readings_from_store"]

CODE_MEASURE: dict[str, str] = {
    "150456": "spo2",  # MDC_PULS_OXIM_SAT_O2 (normal reading; fast/slow carry Hjem codes)
    "149530": "pulse",  # MDC_PULS_OXIM_PULS_RATE
    "149546": "pulse",  # MDC_PULS_RATE_NON_INV (cuff)
    "150364": "temperature",  # MDC_TEMP_BODY
    "150021": "systolic",  # MDC_PRESS_BLD_NONINV_SYS (component of 150020)
    "188736": "weight",  # MDC_MASS_BODY_ACTUAL
    "motion": "motion",  # Hjem room-sensor code, value 1 = motion detected
}
"""Observation codes (first coding, as the store keeps them) -> the model's measure keys."""

RED_FLAGS: dict[str, tuple[float, float]] = {
    "spo2": (91.0, 101.0),
    "pulse": (40.0, 131.0),
    "temperature": (35.0, 39.1),
    "systolic": (90.0, 220.0),
}
"""A reading at or below the first or at or above the second bound scores 3 on its NEWS2
parameter (RCP 2017, chart 1; SpO2 scale 1): the home-measurable 'red' readings that define
a deterioration episode when no ground-truth labels exist (a hub's own data)."""

_SQL = (
    "SELECT resident_id, code, effective_us, value FROM observation"
    " WHERE resident_id IS NOT NULL AND value IS NOT NULL AND code IN ({codes})"
    " AND effective_us >= ? AND effective_us < ?"
    " UNION ALL SELECT resident_id, code, t_us, value FROM sample"
    " WHERE resident_id IS NOT NULL AND code IN ({codes}) AND t_us >= ? AND t_us < ?"
)


def readings_from_store(
    db: Path | sqlite3.Connection, start_s: float, end_s: float
) -> dict[str, list[Reading]]:
    """Every resident's readings of the model's measures in ``[start_s, end_s)`` (epoch s)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if isinstance(db, Path) else db
    try:
        marks = ",".join("?" * len(CODE_MEASURE))
        bounds = (int(start_s * 1e6), int(end_s * 1e6))
        params = (*CODE_MEASURE, *bounds, *CODE_MEASURE, *bounds)
        rows = conn.execute(_SQL.format(codes=marks), params).fetchall()
    except sqlite3.Error as exc:
        raise ValueError(f"cannot read observations from the hub store {db}: {exc}") from exc
    finally:
        if isinstance(db, Path):
            conn.close()
    out: dict[str, list[Reading]] = defaultdict(list)
    for resident, code, t_us, value in rows:
        out[resident].append(Reading(resident, CODE_MEASURE[code], t_us / 1e6, float(value)))
    for items in out.values():
        items.sort(key=lambda r: r.t_s)
    return dict(out)


def episodes_from_readings(readings: Iterable[Reading], quiet_s: float = 3 * DAY_S) -> list[float]:
    """Onsets of deterioration episodes in one resident's readings: a red-flag reading
    (:data:`RED_FLAGS`) after at least ``quiet_s`` without one."""
    onsets: list[float] = []
    last_red = -float("inf")
    for r in sorted(readings, key=lambda x: x.t_s):
        bounds = RED_FLAGS.get(r.measure)
        if bounds is None or bounds[0] < r.value < bounds[1]:
            continue
        if r.t_s - last_red >= quiet_s:
            onsets.append(r.t_s)
        last_red = r.t_s
    return onsets
