"""One log line per significant event, with its fields as ``extra=`` (keys of their own in
``log_format = "json"``; foundation/logs.py).

Events and their ``event`` field:

* ``rejection``: a refused or partly refused message (publisher, reason class, path,
  first error) — :func:`log_rejections`, after its dead letter is committed;
* ``gateway_online`` / ``gateway_offline``: :func:`log_gateway_change`;
* ``alert_opened`` / ``alert_acknowledged`` / ``alert_escalated`` / ``alert_cleared`` /
  ``alert_closed`` (and ``alert_updated`` for a severity change or a repeated notification):
  :class:`AlertLog`, a listener of the alert engine;
* ``sign_in_failed`` (hub/auth/web.py) and ``notification_failed`` (hub/alerts/notify.py)
  log where they happen, with the same fields.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hub.store.ledger import reason_of
from schemas.models import AlertEvent, AlertState

if TYPE_CHECKING:
    from hub.ingest.commit import Judgement
    from hub.registry.gateways import GatewayChange

__all__ = ["AlertLog", "log", "log_gateway_change", "log_rejections"]

log = logging.getLogger("hub.events")


def log_rejections(judgements: Iterable[Judgement]) -> None:
    """A warning per refused message: publisher, reason class, and the first error."""
    for judgement in judgements:
        letter = judgement.dead_letter
        if letter is None:
            continue
        reason = reason_of(letter.errors)
        first = letter.errors[0] if letter.errors else None
        counts = f"{letter.rejected} refused, {letter.accepted} accepted"
        log.warning(
            "rejection: publisher %s, reason %s, %s (%s: %s)",
            letter.publisher or "(none)",
            reason,
            counts if letter.rejected or letter.accepted else "whole message",
            first.path if first else "?",
            first.reason if first else "?",
            extra={
                "event": "rejection",
                "publisher": letter.publisher or "",
                "reason": reason,
                "topic": letter.topic,
                "transport": letter.transport,
                "message_id": letter.message_id or "",
                "detail": first.reason if first else "",
            },
        )


def log_gateway_change(change: GatewayChange) -> None:
    event = "gateway_online" if change.online else "gateway_offline"
    level = logging.INFO if change.online else logging.WARNING
    log.log(
        level,
        "gateway %s %s (%s)",
        change.publisher,
        "online" if change.online else "offline",
        change.kind,
        extra={"event": event, "publisher": change.publisher, "kind": change.kind},
    )


def _action(event: AlertEvent, level_before: int | None) -> str:
    if event.previous_state is None:
        return "opened"
    if event.state is AlertState.CLEARED_ACK:
        return "closed"
    if event.state is not event.previous_state:
        return "acknowledged" if event.state is AlertState.ACTIVE_ACK else "cleared"
    if level_before is not None and event.escalation_level > level_before:
        return "escalated"
    return "updated"


class AlertLog:
    """Alert-engine listener: a line per state change (``engine.add_listener(AlertLog())``)."""

    def __init__(self, levels: dict[str, int] | None = None) -> None:
        self._levels: dict[str, int] = dict(levels or {})
        """Escalation level per open alert (seeded from the store at start)."""

    def __call__(self, event: AlertEvent, organisation: str | None) -> None:
        action = _action(event, self._levels.get(event.alert_id))
        if event.state is AlertState.CLEARED_ACK:
            self._levels.pop(event.alert_id, None)
        else:
            self._levels[event.alert_id] = event.escalation_level
        level = logging.WARNING if action in {"opened", "escalated"} else logging.INFO
        log.log(
            level,
            "alert %s: %s, rule %s, severity %s, resident %s, by %s%s",
            action,
            event.alert_id,
            event.rule,
            event.severity.value,
            event.resident or "-",
            event.actor,
            f" ({event.note})" if event.note else "",
            extra={
                "event": f"alert_{action}",
                "alert_id": event.alert_id,
                "rule": event.rule,
                "severity": event.severity.value,
                "state": event.state.value,
                "resident": event.resident or "",
                "organisation": organisation or "",
                "actor": event.actor,
                "escalation_level": event.escalation_level,
            },
        )
