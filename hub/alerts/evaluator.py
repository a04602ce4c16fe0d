"""The base of every rule evaluator (:mod:`hub.alerts.rules`, :mod:`hub.alerts.rules_time`)."""

from __future__ import annotations

from datetime import datetime

from hub.alerts.inputs import GatewayInput, ObservationInput, Signal, Subject

__all__ = ["Evaluator"]


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
