"""Personal baseline: a robust score of a reading against the resident's own history.

The modified z-score of Iglewicz and Hoaglin: ``0.6745 * (x - median) / MAD``. When the
median absolute deviation is zero (a very steady history) the mean absolute deviation is
used instead (``(x - median) / (1.2533 * meanAD)``); when that is zero too, a reading equal
to the median scores 0 and any other reading scores infinity.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

__all__ = ["RollingHistory", "robust_score"]

_MAD_FACTOR = 0.6745
_MEAN_AD_FACTOR = 1.253314


def robust_score(history: Sequence[float], value: float) -> float:
    """The modified z-score of ``value`` against ``history`` (non-empty)."""
    data = np.asarray(history, dtype=np.float64)
    if data.size == 0:
        raise ValueError("robust_score needs a non-empty history")
    median = float(np.median(data))
    deviations = np.abs(data - median)
    mad = float(np.median(deviations))
    if mad > 0:
        return _MAD_FACTOR * (value - median) / mad
    mean_ad = float(np.mean(deviations))
    if mean_ad > 0:
        return (value - median) / (_MEAN_AD_FACTOR * mean_ad)
    if value == median:
        return 0.0
    return math.copysign(math.inf, value - median)


class RollingHistory:
    """Readings of one resident and measure within a time window, at most ``max_samples``."""

    def __init__(self, window: timedelta, max_samples: int) -> None:
        self._window = window
        self._items: deque[tuple[datetime, float]] = deque(maxlen=max_samples)

    def prune(self, now: datetime) -> None:
        horizon = now - self._window
        while self._items and self._items[0][0] < horizon:
            self._items.popleft()

    def add(self, when: datetime, value: float) -> None:
        self._items.append((when, value))

    def values(self) -> list[float]:
        return [v for _, v in self._items]

    def __len__(self) -> int:
        return len(self._items)
