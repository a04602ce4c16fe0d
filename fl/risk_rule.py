"""The alert rule kind ``risk_model``: daily deterioration-risk scores from the accepted model.

The evaluator keeps each resident's last 8 days of the model's readings from the hub's
observation stream, and once a day (at ``hour_utc``) scores everyone with the model the hub
accepted on its shelf (:class:`fl.artefact.ModelShelf`; no accepted model: no scores). A risk
at or above ``threshold`` raises a low-severity "rising risk" alert naming the features that
contribute most; the alert's trigger records the model version. Features come from
:func:`fl.features.window_features`, as in training.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from fl.artefact import Artefact, ModelShelf
from fl.features import DAY_S, WINDOW_DAYS, Reading, daily_table, window_features
from fl.model import contributions, predict
from fl.sources import CODE_MEASURE
from hub.alerts.config import RiskModelRule
from hub.alerts.inputs import ObservationInput, Signal, Subject, Trigger
from hub.alerts.rules import Evaluator

__all__ = ["RiskModelEvaluator"]

log = logging.getLogger(__name__)
_KEEP_S = (WINDOW_DAYS + 1) * DAY_S


def _readings(item: ObservationInput) -> list[tuple[str, float]]:
    obs = item.observation
    out: list[tuple[str, float]] = []
    code = obs.code[0].code
    if code in CODE_MEASURE:
        if getattr(obs, "value", None) is not None:
            out.append((CODE_MEASURE[code], float(obs.value)))  # type: ignore[arg-type]
        elif getattr(obs, "value_boolean", None) is not None:
            out.append((CODE_MEASURE[code], 1.0 if obs.value_boolean else 0.0))
    comps = getattr(obs, "components", None) or []
    out.extend(
        (CODE_MEASURE[c.code[0].code], float(c.value))
        for c in comps
        if c.value is not None and c.code[0].code in CODE_MEASURE
    )
    return out


@dataclass
class RiskModelEvaluator(Evaluator):
    rule: RiskModelRule
    history: dict[str, deque[Reading]] = field(default_factory=dict)
    subjects: dict[str, Subject] = field(default_factory=dict)
    firing: set[str] = field(default_factory=set)
    scored_day: int = -1

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self.interest = None

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:  # noqa: ARG002
        subject = Subject.of_resident(item)
        if subject is None or item.resident is None:
            return []
        t = item.effective.timestamp()
        kept = self.history.setdefault(item.resident, deque())
        for measure, value in _readings(item):
            kept.append(Reading(item.resident, measure, t, value))
        while kept and kept[0].t_s < t - _KEEP_S:
            kept.popleft()
        self.subjects[item.resident] = subject
        return []

    def on_tick(self, now: datetime) -> list[Signal]:
        day = int(now.timestamp() // DAY_S)
        if day == self.scored_day or now.hour < self.rule.hour_utc:
            return []
        self.scored_day = day
        model = ModelShelf(self.rule.shelf).active()
        if model is None:
            log.warning("rule %s: no accepted model on %s", self.rule.id, self.rule.shelf)
            return []
        out = []
        for resident, items in self.history.items():
            table = daily_table(items, day - WINDOW_DAYS, WINDOW_DAYS)
            signal = self._judge(resident, window_features(table, np.array([day]))[0], model, now)
            if signal is not None:
                out.append(signal)
        return out

    def _judge(self, resident: str, x: np.ndarray, model: Artefact, now: datetime) -> Signal | None:
        risk = float(predict(model.params, x[None, :])[0])
        subject = self.subjects[resident]
        if risk < self.rule.threshold:
            if resident not in self.firing:
                return None
            self.firing.discard(resident)
            text = f"Risk of deterioration back to {risk:.0%} (model {model.version})"
            return Signal.clear(self.rule.id, subject, self.rule.severity, text)
        top = contributions(model.params, x)
        names = ", ".join(name for name, _ in top) or "no single feature"
        text = self.rule.summary or (
            f"Rising risk of deterioration ({risk:.0%} within 48 h): {names} "
            f"(model {model.version})"
        )
        detail = {
            "kind": "risk_model",
            "risk": round(risk, 3),
            "model_version": model.version,
            "top_features": [{"feature": n, "contribution": c} for n, c in top],
        }
        self.firing.add(resident)
        trigger = Trigger(risk, None, now, detail)
        return Signal.fire(self.rule.id, subject, self.rule.severity, text, trigger)

    def reset(self, subject_key: str) -> None:
        self.firing.discard(subject_key.removeprefix("resident:"))
