"""The evaluation cohort: a synthetic cohort from ``synth`` (issue 20), reduced to daily
tables and ground-truth episode onsets, and split into organisations of different sizes and
case mixes (a COPD-heavy one, a heart-failure-heavy one, small general ones).

The split is ours (synth assigns organisations round-robin, all alike); it only decides which
organisation holds which synthetic resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from fl.dataset import Samples, build_samples
from fl.features import DAY_S, MEASURES, MOTION, DailyTable, daily_table_arrays

__all__ = ["ORGANISATIONS", "Cohort", "load_synth_cohort", "organisation_samples"]

# name -> (share of residents, affinity for COPD, for heart failure); the last is held out.
ORGANISATIONS: dict[str, tuple[float, float, float]] = {
    "org-a-large": (0.34, 1.0, 1.0),
    "org-b-copd": (0.18, 4.0, 0.5),
    "org-c-heart": (0.14, 0.5, 4.0),
    "org-d-small": (0.08, 1.0, 1.0),
    "org-e-small": (0.06, 0.3, 0.3),
    "heldout": (0.20, 1.0, 1.0),
}
HELD_OUT = "heldout"


@dataclass
class Cohort:
    tables: dict[str, DailyTable]
    onsets: dict[str, list[float]]
    organisation: dict[str, str]


def _synth_measures() -> dict[int, tuple[int, str]]:
    """synth reading kind -> (our measure index, value column)."""
    from synth import frame as fr

    return {
        fr.SPO2: (MEASURES.index("spo2"), "v1"),
        fr.PULSE_OX: (MEASURES.index("pulse"), "v1"),
        fr.PULSE_BP: (MEASURES.index("pulse"), "v1"),
        fr.TEMPERATURE: (MEASURES.index("temperature"), "v1"),
        fr.BP: (MEASURES.index("systolic"), "v1"),
        fr.WEIGHT: (MEASURES.index("weight"), "v1"),
        fr.MOTION: (MOTION, ""),
    }


def _assign(rng: np.random.Generator, copd: np.ndarray, hf: np.ndarray) -> np.ndarray:
    names = list(ORGANISATIONS)
    share = np.array([ORGANISATIONS[n][0] for n in names])
    aff_copd = np.array([ORGANISATIONS[n][1] for n in names])
    aff_hf = np.array([ORGANISATIONS[n][2] for n in names])
    weight = share[None, :] * np.where(copd[:, None], aff_copd, 1.0)
    weight = weight * np.where(hf[:, None], aff_hf, 1.0)
    weight /= weight.sum(axis=1, keepdims=True)
    u = rng.random(len(copd))[:, None]
    return np.asarray((u > np.cumsum(weight, axis=1)).sum(axis=1))


def load_synth_cohort(residents: int, days: int, seed: int, start: date | None = None) -> Cohort:
    """Generate a cohort with ``synth`` and reduce it to what the model reads."""
    from synth.cohort import CohortSpec, calendar, chunks
    from synth.params import default_params

    spec = CohortSpec(residents, days, 1, seed, start or date(2026, 1, 5))
    kinds = _synth_measures()
    rng = np.random.default_rng([seed, 19])
    names = list(ORGANISATIONS)
    out = Cohort({}, {}, {})
    start_s = float(calendar(spec.start, days).day_utc[0])
    first_day = int(start_s // DAY_S)
    for chunk in chunks(spec, default_params()):
        r = chunk.readings
        rk = r["rk"]
        measure = np.full(rk.shape, -1)
        value = np.ones(rk.shape)
        for kind, (index, column) in kinds.items():
            sel = rk == kind
            measure[sel] = index
            if column:
                value[sel] = r[column][sel]
        org = _assign(rng, chunk.pop.has("copd"), chunk.pop.has("heart_failure"))
        for i, rid in enumerate(chunk.pop.ids):
            lo, hi = np.searchsorted(r["res"], [i, i + 1])
            out.tables[rid] = daily_table_arrays(
                measure[lo:hi], r["t"][lo:hi].astype(float), value[lo:hi], first_day, days + 1
            )
            out.onsets[rid] = []
            out.organisation[rid] = names[org[i]]
        ep = chunk.episodes
        for res, onset in zip(ep.resident, ep.onset, strict=True):
            out.onsets[chunk.pop.ids[int(res)]].append(start_s + float(onset) * DAY_S)
    return out


def organisation_samples(cohort: Cohort) -> dict[str, Samples]:
    """Labelled samples per organisation (residents in the order of the cohort)."""
    out: dict[str, Samples] = {}
    for name in ORGANISATIONS:
        tables = {r: t for r, t in cohort.tables.items() if cohort.organisation[r] == name}
        out[name] = build_samples(tables, cohort.onsets)
    return out
