"""Utility of a synthetic data set: train on synthetic, test on real (TSTR).

The task is the deterioration model of the federated-learning work (``fl/``, docs/federated.md):
one sample per resident and day, :func:`fl.features.window_features` from the 7 days before,
label 1 when an episode starts within 48 h (``fl.dataset.build_samples``), a logistic
regression (``fl.model``) trained as the pooled arm of ``hjem fl report`` is.

REAL's residents are split in two halves (fixed seed). The model is trained on SYNTH and,
as the reference, on the first half of REAL (train on real, TRTR); both are scored on the
second half. Labels are episode onsets from each cohort's ``labels.jsonl``; a hub database
has none, so utility needs REAL and SYNTH as cohort directories. Readings come from
:func:`synth.data.load` (vital signs; room motion is not in that table, so the two night-time
activity features are 0 on both sides).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synth.data import Long

if TYPE_CHECKING:
    from fl.dataset import Samples
    from fl.features import DailyTable

__all__ = ["SPLIT_SEED", "Utility", "episode_onsets", "utility"]

SPLIT_SEED = 20


@dataclass(frozen=True)
class Utility:
    """AUROC and AUPRC on the held-out half of REAL, trained on SYNTH (tstr) or on the
    other half of REAL (trtr)."""

    tstr_auroc: float
    tstr_auprc: float
    trtr_auroc: float
    trtr_auprc: float
    synth_rows: int
    real_train_rows: int
    test_rows: int
    test_positives: int

    @property
    def auroc_difference(self) -> float:
        """TSTR minus TRTR (negative: the synthetic data teaches less)."""
        return self.tstr_auroc - self.trtr_auroc

    @property
    def auprc_difference(self) -> float:
        return self.tstr_auprc - self.trtr_auprc

    def summary(self) -> str:
        return (
            f"utility AUROC synthetic {self.tstr_auroc:.3f} vs real {self.trtr_auroc:.3f} "
            f"({self.auroc_difference:+.3f}), AUPRC {self.tstr_auprc:.3f} vs "
            f"{self.trtr_auprc:.3f} ({self.auprc_difference:+.3f})"
        )


def episode_onsets(path: Path) -> dict[str, list[float]]:
    """Episode onsets (epoch s) per resident from a cohort's ``labels.jsonl``."""
    labels = path / "labels.jsonl"
    if not path.is_dir() or not labels.is_file():
        raise ValueError(f"{path}: no labels.jsonl (episode ground truth); utility needs one")
    out: dict[str, list[float]] = {}
    with labels.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                row = json.loads(line)
                if row.get("type") != "episode":
                    continue
                onset = datetime.fromisoformat(row["onset"].replace("Z", "+00:00"))
                out.setdefault(str(row["resident"]), []).append(onset.timestamp())
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{labels}:{number}: not a label row ({exc})") from exc
    return out


def _tables(long: Long) -> dict[str, DailyTable]:
    from fl.features import DAY_S, daily_table_arrays, measure_index

    if long.t.size == 0:
        return {}
    first = int(long.t.min() // DAY_S)
    days = int(long.t.max() // DAY_S) - first + 1
    index = np.array([measure_index(str(m)) for m in long.measure], dtype=int)
    order = np.argsort(long.resident.astype(str), kind="stable")
    residents = long.resident.astype(str)[order]
    names, starts = np.unique(residents, return_index=True)
    bounds = [*starts.tolist(), residents.size]
    out = {}
    for k, name in enumerate(names.tolist()):
        rows = order[bounds[k] : bounds[k + 1]]
        out[name] = daily_table_arrays(
            index[rows], long.t[rows].astype(float), long.value[rows], first, days
        )
    return out


def _samples(tables: Mapping[str, DailyTable], onsets: Mapping[str, list[float]]) -> Samples:
    from fl.dataset import build_samples

    return build_samples(tables, onsets)


def _score(learn: Samples, test: Samples) -> tuple[float, float]:
    from fl.model import TrainConfig, auprc, auroc, initial_params, predict, train

    params = train(initial_params(), learn.x, learn.y, TrainConfig(steps=1500, lr=2.0))
    score = predict(params, test.x)
    return auroc(test.y, score), auprc(test.y, score)


def utility(
    real: Long, real_path: Path, synth: Long, synth_path: Path, seed: int = SPLIT_SEED
) -> Utility:
    """TSTR against TRTR; ValueError with the reason when it cannot be measured."""
    real_onsets, synth_onsets = episode_onsets(real_path), episode_onsets(synth_path)
    real_tables = _tables(real)
    names = sorted(real_tables)
    if len(names) < 4:
        raise ValueError(f"{real_path}: {len(names)} residents with readings; need at least 4")
    test_names = set(np.random.default_rng(seed).permutation(names)[: len(names) // 2].tolist())
    test = _samples({n: t for n, t in real_tables.items() if n in test_names}, real_onsets)
    real_train = _samples(
        {n: t for n, t in real_tables.items() if n not in test_names}, real_onsets
    )
    synth_train = _samples(_tables(synth), synth_onsets)
    for what, part in (("held-out real", test), ("real training", real_train)):
        positives = int(part.y.sum())
        if positives == 0 or positives == len(part):
            raise ValueError(f"the {what} half has {positives} of {len(part)} days positive")
    if int(synth_train.y.sum()) == 0:
        raise ValueError(f"{synth_path}: no day before an episode onset to learn from")
    tstr, trtr = _score(synth_train, test), _score(real_train, test)
    return Utility(*tstr, *trtr, len(synth_train), len(real_train), len(test), int(test.y.sum()))
