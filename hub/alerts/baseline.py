"""Personal baseline: a robust score of a reading against the resident's own history.

The modified z-score of Iglewicz and Hoaglin: ``0.6745 * (x - median) / MAD``. When the
median absolute deviation is zero (a very steady history) the mean absolute deviation is
used instead (``(x - median) / (1.2533 * meanAD)``); when that is zero too, a reading equal
to the median scores 0 and any other reading scores infinity.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hub.alerts.config import BaselineRule
from hub.alerts.evaluator import FiringSubjects
from hub.alerts.inputs import ObservationInput, Signal, Subject, Trigger, readings
from hub.alerts.snapshot import at, time_out

__all__ = ["BaselineEvaluator", "RollingHistory", "robust_score"]

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

    def items(self) -> list[tuple[datetime, float]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class BaselineEvaluator(FiringSubjects):
    rule: BaselineRule
    histories: dict[str, RollingHistory] = field(default_factory=dict)
    firing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._window = timedelta(days=self.rule.window_days)
        self.interest = self.rule.watch.keys()
        self._unit = self.rule.watch.unit()

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:  # noqa: ARG002
        subject = Subject.of_resident(item)
        if subject is None:
            return []
        out: list[Signal] = []
        for value in readings(item.observation, self.interest or frozenset(), self._unit):
            history = self.histories.setdefault(
                subject.key, RollingHistory(self._window, self.rule.max_samples)
            )
            history.prune(item.effective)
            if len(history) >= self.rule.min_samples:
                out.extend(self._judge(subject, history.values(), float(value), item.effective))
            history.add(item.effective, float(value))
        return out

    def _judge(
        self, subject: Subject, history: list[float], value: float, at: datetime
    ) -> list[Signal]:
        score = robust_score(history, value)
        text = self.rule.summary or (
            f"{self.rule.watch.label()} {value:g} deviates from the personal baseline "
            f"(robust score {score:+.1f}, {len(history)} readings)"
        )
        if abs(score) >= self.rule.score:
            self.firing.add(subject.key)
            detail: dict[str, object] = {
                "kind": "baseline",
                "watch": self.rule.watch.label(),
                "score": round(score, 1),
                "readings": len(history),
            }
            trigger = Trigger(value, self._unit, at, detail)
            return [Signal.fire(self.rule.id, subject, self.rule.severity, text, trigger)]
        if subject.key in self.firing and abs(score) < self.rule.clear_score:
            self.firing.discard(subject.key)
            return [Signal.clear(self.rule.id, subject, self.rule.severity, text)]
        return []

    def snapshot(self) -> dict[str, Any]:
        keys = self.histories.keys() | self.firing
        return {
            key: [
                key in self.firing,
                [[time_out(w), v] for w, v in h.items()] if (h := self.histories.get(key)) else [],
            ]
            for key in keys
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for key, (firing, items) in states.items():
            history = RollingHistory(self._window, self.rule.max_samples)
            for when, value in items:
                history.add(at(when), float(value))
            self.histories[key] = history
            self.load_firing(key, firing=bool(firing))
