"""Fidelity and privacy metrics of a synthetic data set against real data.

Privacy works on one record per resident: per measure, the mean and SD of the readings.
* distance to closest record (DCR): each synthetic record's distance to the nearest real
  (training) record, against the hold-out baseline (each hold-out record's distance to the
  nearest training record). Synthetic records much closer than hold-out ones are copies.
* membership inference: the attacker scores a real record by how close the nearest synthetic
  record is; AUC of members (training) against non-members (hold-out). 0.5 = no signal.
* attribute disclosure: for training records with a rare quasi-identifier combination (fewer
  than 3 residents in a bin of mean systolic pressure x mean pulse), the share whose low-SpO2
  status is guessed right from synthetic records in the same bin, against the same guess
  for hold-out records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp, wasserstein_distance

from synth.data import Long
from synth.fit import FIT_MEASURES

__all__ = ["Privacy", "fidelity", "privacy", "records"]

DCR_FLAG = 0.5  # synthetic DCR median below half the hold-out one: flagged
MIA_FLAG = 0.6  # membership-inference AUC above this: flagged


def fidelity(real: Long, synth: Long) -> list[dict[str, float | str]]:
    rows: list[dict[str, float | str]] = []
    for measure in FIT_MEASURES:
        a, b = real.of(measure).value, synth.of(measure).value
        if a.size < 2 or b.size < 2:
            continue
        rows.append(
            {
                "measure": measure,
                "real_n": a.size,
                "synth_n": b.size,
                "real_mean": float(a.mean()),
                "synth_mean": float(b.mean()),
                "ks": float(ks_2samp(a, b).statistic),
                "wasserstein": float(wasserstein_distance(a, b)),
            }
        )
    return rows


def records(long: Long) -> tuple[list[str], np.ndarray]:
    """One row per resident with all measures: per measure mean and SD (z-scored later)."""
    residents = sorted(set(long.resident.tolist()))
    index = {r: i for i, r in enumerate(residents)}
    cols = []
    for measure in FIT_MEASURES:
        part = long.of(measure)
        idx = np.array([index[r] for r in part.resident.tolist()], dtype=np.int64)
        n = np.bincount(idx, minlength=len(residents)).astype(float)
        s = np.bincount(idx, part.value, minlength=len(residents))
        q = np.bincount(idx, part.value**2, minlength=len(residents))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s / n
            sd = np.sqrt(np.maximum(q / n - mean**2, 0))
        cols += [mean, sd]
    table = np.stack(cols, axis=1)
    keep = ~np.isnan(table).any(axis=1)
    return [r for r, k in zip(residents, keep, strict=True) if k], table[keep]


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    return np.asarray(d.min(axis=1), dtype=float)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


@dataclass
class Privacy:
    dcr_synth_median: float
    dcr_holdout_median: float
    dcr_ratio: float
    mia_auc: float
    disclosure_synth: float
    disclosure_holdout: float
    rare_records: int

    @property
    def flagged(self) -> list[str]:
        out = []
        if self.dcr_ratio < DCR_FLAG:
            out.append(
                f"synthetic records are closer to real ones than hold-out records "
                f"(DCR ratio {self.dcr_ratio:.2f} < {DCR_FLAG})"
            )
        if self.mia_auc > MIA_FLAG:
            out.append(f"membership inference AUC {self.mia_auc:.2f} > {MIA_FLAG}")
        if self.rare_records and self.disclosure_synth > self.disclosure_holdout + 0.2:
            out.append(
                f"rare combinations disclose the attribute ({self.disclosure_synth:.2f} "
                f"vs {self.disclosure_holdout:.2f} from hold-out)"
            )
        return out


def _bins(x: np.ndarray) -> np.ndarray:
    """Quasi-identifier bins: mean systolic by 10 mmHg, mean pulse by 8 /min."""
    return np.stack([np.floor(x[:, 4] / 10), np.floor(x[:, 2] / 8)], axis=1)


def _disclosure(train: np.ndarray, other: np.ndarray) -> tuple[float, int]:
    """Share of rare training records whose low-SpO2 status the other set's bin reveals."""
    tb, ob = _bins(train), _bins(other)
    low_t, low_o = train[:, 0] < 93, other[:, 0] < 93
    keys, counts = np.unique(tb, axis=0, return_counts=True)
    rare = {tuple(k) for k, c in zip(keys, counts, strict=True) if c < 3}
    hits = total = 0
    for i, row in enumerate(tb):
        if tuple(row) not in rare:
            continue
        same = (ob == row).all(axis=1)
        total += 1
        pool = low_o[same] if same.any() else low_o  # empty bin: the set's overall majority
        if (pool.mean() >= 0.5) == low_t[i]:
            hits += 1
    return (hits / total if total else 0.0), total


def privacy(train: Long, holdout: Long, synth: Long) -> Privacy:
    _, t = records(train)
    _, h = records(holdout)
    _, s = records(synth)
    mu, sd = t.mean(axis=0), t.std(axis=0) + 1e-9
    tz, hz, sz = (t - mu) / sd, (h - mu) / sd, (s - mu) / sd
    dcr_s, dcr_h = np.median(_nearest(sz, tz)), np.median(_nearest(hz, tz))
    auc = _auc(-_nearest(tz, sz), -_nearest(hz, sz))
    ds, rare = _disclosure(t, s)
    dh, _ = _disclosure(t, h)
    return Privacy(float(dcr_s), float(dcr_h), float(dcr_s / max(dcr_h, 1e-9)), auc, ds, dh, rare)
