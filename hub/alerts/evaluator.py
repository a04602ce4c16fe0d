"""The base of every rule evaluator (:mod:`hub.alerts.rules`, :mod:`hub.alerts.rules_time`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.alerts.inputs import GatewayInput, ObservationInput, Signal, Subject

__all__ = ["Evaluator", "FiringSubjects"]


class Evaluator:
    """Base: no signals. Subclasses override what they react to."""

    rule_id: str
    interest: frozenset[tuple[str, str]] | None = None
    """The (system, code) pairs this evaluator reads; None: every observation."""

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:  # noqa: ARG002
        return []

    def on_gateway(self, item: GatewayInput, now: datetime) -> list[Signal]:  # noqa: ARG002
        return []

    def on_tick(self, now: datetime) -> list[Signal]:  # noqa: ARG002
        return []

    def reset(self, subject_key: str) -> None:
        """Forget that ``subject_key`` fires (after a user resolved its alert)."""

    def track(self, subject: Subject, now: datetime) -> None:
        """Learn a resident (e.g. from the registry at start) before data arrives."""

    def restore(self, subject: Subject, now: datetime) -> None:
        """At start: ``subject`` has an active alert of this rule, so its condition holds
        (a later reading past the clear condition must clear it)."""

    def snapshot(self) -> dict[str, Any]:
        """What this evaluator remembers, per subject key, as JSON-able values (persisted
        with the alert changes, :mod:`hub.alerts.durable`); empty: nothing to keep."""
        return {}

    def load(self, states: Mapping[str, Any]) -> None:
        """Take back what :meth:`snapshot` gave (at start or takeover), per subject key."""


class FiringSubjects(Evaluator):
    """An evaluator that keeps the subjects whose condition holds in ``firing``."""

    firing: set[str]

    def reset(self, subject_key: str) -> None:
        self.firing.discard(subject_key)

    def restore(self, subject: Subject, now: datetime) -> None:  # noqa: ARG002
        self.firing.add(subject.key)

    def load_firing(self, subject_key: str, *, firing: bool) -> None:
        if firing:
            self.firing.add(subject_key)
        else:
            self.firing.discard(subject_key)
