"""The alerts component's exceptions: one root, subclasses that carry what went wrong."""

from __future__ import annotations

import sqlite3

from hub.errors import HubError, StoreError
from schemas.models import AlertState

__all__ = [
    "STORE_ERRORS",
    "AlertNotFoundError",
    "AlertsError",
    "InvalidTransitionError",
    "NoRulesError",
    "RulesConfigError",
    "StorageError",
]


class AlertsError(HubError):
    """Root of every error raised by :mod:`hub.alerts` (a :class:`HubError`, so that
    ``hjem hub run`` reports a wrong rules file as one line)."""


class RulesConfigError(AlertsError):
    """A rules file that cannot be used; ``problems`` lists ``(where, what)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{where}: {what}" for where, what in problems)
        super().__init__(f"{source}: {lines}")


class NoRulesError(AlertsError):
    """Alerts are enabled but no rule is: the hub would watch nothing and look calm."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"{why}: a hub without alert rules raises no alert; set [alerts] rules_file"
            " (e.g. deploy/alerts.example.toml) or say [alerts] enabled = false"
        )


class AlertNotFoundError(AlertsError):
    def __init__(self, alert_id: str) -> None:
        self.alert_id = alert_id
        super().__init__(f"no alert {alert_id!r}")


class InvalidTransitionError(AlertsError):
    """An action that the alert's current state does not allow (e.g. ack an acked alert)."""

    def __init__(self, alert_id: str, state: AlertState, action: str) -> None:
        self.alert_id = alert_id
        self.state = state
        self.action = action
        super().__init__(f"alert {alert_id!r} is {state.value}; cannot {action}")


class StorageError(AlertsError):
    """The alert database failed (wraps :class:`sqlite3.Error`)."""


STORE_ERRORS: tuple[type[Exception], ...] = (StorageError, StoreError, sqlite3.Error)
"""What a database that cannot write raises on the alert path (retried, never fatal)."""
