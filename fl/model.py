"""Logistic regression in numpy: training (with an optional FedProx term), scores, the
features that contribute most to one score, and the evaluation metrics.

Parameters are one float64 vector: the weights of :data:`fl.features.FEATURES`, then the
intercept. That vector is all that ever leaves a hub (as a masked, clipped, noised update).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fl.features import FEATURES

__all__ = [
    "N_PARAMS",
    "TrainConfig",
    "alerts_per_100_per_week",
    "auprc",
    "auroc",
    "contributions",
    "initial_params",
    "predict",
    "train",
]

N_PARAMS = len(FEATURES) + 1


@dataclass(frozen=True)
class TrainConfig:
    """Full-batch gradient descent: ``steps`` steps of size ``lr``; L2 penalty ``l2``;
    ``prox_mu`` > 0 adds FedProx's proximal term towards the round's global parameters;
    positives weighted by ``pos_weight`` (rare events)."""

    steps: int = 60
    lr: float = 0.5
    l2: float = 1e-3
    prox_mu: float = 0.0
    pos_weight: float = 5.0


def initial_params() -> np.ndarray:
    return np.zeros(N_PARAMS)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def predict(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Risk scores in (0, 1) for rows of features."""
    if params.shape != (N_PARAMS,):
        raise ValueError(f"model parameters have shape {params.shape}, want ({N_PARAMS},)")
    return _sigmoid(x @ params[:-1] + params[-1])


def train(params: np.ndarray, x: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """Parameters after ``cfg.steps`` gradient steps from ``params`` (left unchanged)."""
    w = params.astype(float).copy()
    anchor = params.astype(float)
    if len(y) == 0:
        return w
    xb = np.column_stack([x, np.ones(len(x))])
    sw = np.where(y > 0, cfg.pos_weight, 1.0)
    sw = sw / sw.sum()
    reg = np.full(N_PARAMS, cfg.l2)
    reg[-1] = 0.0
    for _ in range(cfg.steps):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (sw * (p - y)) + reg * w + cfg.prox_mu * (w - anchor)
        w -= cfg.lr * grad
    return w


def contributions(params: np.ndarray, x: np.ndarray, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` features that raise this row's score most: (name, weight x value) > 0."""
    parts = params[:-1] * x
    order = np.argsort(-parts)[:top]
    return [(FEATURES[i], round(float(parts[i]), 3)) for i in order if parts[i] > 0]


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties)."""
    pos = y > 0
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mid = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(mid, counts)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def auprc(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    n1 = int((y > 0).sum())
    if n1 == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    hits = (y[order] > 0).astype(float)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n1)


def alerts_per_100_per_week(y: np.ndarray, score: np.ndarray, sensitivity: float) -> float:
    """Alerts per 100 residents per week when the threshold catches ``sensitivity`` of the
    positive resident-days (samples are one score per resident per day)."""
    pos = np.sort(score[y > 0])[::-1]
    if len(pos) == 0 or len(score) == 0:
        return float("nan")
    threshold = pos[max(int(np.ceil(sensitivity * len(pos))) - 1, 0)]
    alerts = int((score >= threshold).sum())
    resident_weeks = len(score) / 7.0
    return 100.0 * alerts / resident_weeks
