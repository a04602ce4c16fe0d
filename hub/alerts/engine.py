"""The alert engine: rule signals become alerts with a lifecycle, escalation and silences.

States (``schemas.models.AlertState``)::

    (none) --fire--> ACTIVE_UNACK --ack--> ACTIVE_ACK --clear--> CLEARED_ACK (closed)
                       |  ^                                          ^
                    clear  refire                                    | ack / resolve
                       v  |                                          |
                     CLEARED_UNACK ----------------------------------+

One open alert (any state but CLEARED_ACK) per rule and subject. ``resolve`` closes an alert
from any open state with a note and makes its rule start over for that subject. Every change
is written with its audit entry and outbox rows in one transaction, then handed to the
listeners (the live stream). Time comes only from the injected clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta

from foundation.clock import Clock
from hub.alerts.config import EscalationPolicy, RulesConfig
from hub.alerts.errors import InvalidTransitionError, StorageError
from hub.alerts.inputs import GatewayInput, ObservationInput, Signal, Subject, observation_keys
from hub.alerts.rules import Evaluator, build_evaluator
from hub.alerts.store import AlertRow, AlertStore, AuditEntry, Silence
from schemas.models import AlertEvent, AlertState, Severity

__all__ = ["SEVERITY_RANK", "AlertEngine", "Listener"]

Listener = Callable[[AlertEvent, str | None], None]
"""Called after each committed change with the event and the alert's organisation."""
SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
SYSTEM = "system"


def _new_id() -> str:
    return f"a-{secrets.token_hex(8)}"


def _note_trigger(row: AlertRow, signal: Signal) -> None:
    """Keep what made the alert (re)open or rise on the row (value, unit, time, facts)."""
    trigger = signal.trigger
    if trigger is None:
        return
    row.trigger_value, row.trigger_unit = trigger.value, trigger.unit
    row.trigger_time, row.trigger_detail = trigger.at, dict(trigger.detail)


class AlertEngine:
    """Pure core plus the alert store; no network. Not thread-safe: one owner."""

    def __init__(
        self,
        config: RulesConfig,
        store: AlertStore,
        clock: Clock,
        *,
        channels: Iterable[str] = (),
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.channels = tuple(channels)
        self._new_id = new_id
        self._listeners: list[Listener] = []
        self._start(clock())

    def resume(self) -> None:
        """Go back to what is committed (a node taking over evaluation: what another node
        changed since this one last evaluated is in the database, not in memory)."""
        self._start(self.clock())

    def _start(self, now: datetime) -> None:
        """Fresh evaluators, the open alerts and silences as stored (at start, and when a
        durable engine goes back to what is committed)."""
        self._evaluators: dict[str, Evaluator] = {
            r.id: build_evaluator(r) for r in self.config.rules if r.enabled
        }
        self._general = [e for e in self._evaluators.values() if e.interest is None]
        self._specific = [e for e in self._evaluators.values() if e.interest is not None]
        self._open: dict[tuple[str, str], AlertRow] = {
            (a.rule, a.subject): a for a in self.store.open_alerts()
        }
        self._silences = self.store.silences(now)
        self._restore(now)

    def _restore(self, now: datetime) -> None:
        """Tell the evaluators which conditions hold according to the stored active alerts."""
        for row in self._open.values():
            evaluator = self._evaluators.get(row.rule)
            if evaluator is not None and row.state in (
                AlertState.ACTIVE_UNACK,
                AlertState.ACTIVE_ACK,
            ):
                subject = Subject(row.subject, row.resident, row.home, row.organisation)
                evaluator.restore(subject, now)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- inputs ----------------------------------------------------------------------------

    def observe(self, items: Iterable[ObservationInput]) -> list[AlertEvent]:
        now = self.clock()
        signals: list[Signal] = []
        for item in items:
            keys = observation_keys(item.observation)
            for evaluator in self._general:
                signals.extend(evaluator.on_observation(item, now))
            for evaluator in self._specific:
                if evaluator.interest is not None and not evaluator.interest.isdisjoint(keys):
                    signals.extend(evaluator.on_observation(item, now))
        return self._apply_all(signals, now)

    def gateway(self, item: GatewayInput) -> list[AlertEvent]:
        now = self.clock()
        signals = [s for e in self._evaluators.values() for s in e.on_gateway(item, now)]
        return self._apply_all(signals, now)

    def track(self, subjects: Iterable[Subject]) -> None:
        """Make residents known (from the registry) so that inactivity rules watch them."""
        now = self.clock()
        for subject in subjects:
            for evaluator in self._evaluators.values():
                evaluator.track(subject, now)

    def tick(self) -> list[AlertEvent]:
        """Evaluate time-based rules and escalation deadlines at the clock's current time."""
        now = self.clock()
        self._silences = [s for s in self._silences if s.ends > now]
        signals = [s for e in self._evaluators.values() for s in e.on_tick(now)]
        events = self._apply_all(signals, now)
        for row in sorted(self._open.values(), key=lambda r: r.opened):
            if (
                row.state is AlertState.ACTIVE_UNACK
                and row.next_notify is not None
                and row.next_notify <= now
                and not self._silenced(row.rule, row.subject, row.resident, row.organisation, now)
            ):
                with _unchanged_on_failure(row):
                    events.append(self._escalate(row, now))
        return events

    def next_deadline(self) -> datetime | None:
        """The earliest escalation deadline among open alerts (for the service's timer)."""
        times = [r.next_notify for r in self._open.values() if r.next_notify is not None]
        return min(times) if times else None

    # -- user actions ----------------------------------------------------------------------

    def acknowledge(self, alert_id: str, actor: str, note: str | None = None) -> AlertEvent:
        row = self.store.get(alert_id)
        target = {
            AlertState.ACTIVE_UNACK: AlertState.ACTIVE_ACK,
            AlertState.CLEARED_UNACK: AlertState.CLEARED_ACK,
        }.get(row.state)
        if target is None:
            raise InvalidTransitionError(alert_id, row.state, "acknowledge")
        row.assignee = actor
        row.next_notify = None
        return self._change(row, target, "acknowledge", now=self.clock(), actor=actor, note=note)

    def resolve(self, alert_id: str, actor: str, note: str) -> AlertEvent:
        row = self.store.get(alert_id)
        if not row.is_open:
            raise InvalidTransitionError(alert_id, row.state, "resolve")
        row.next_notify = None
        if row.assignee is None:
            row.assignee = actor
        event = self._change(
            row, AlertState.CLEARED_ACK, "resolve", now=self.clock(), actor=actor, note=note
        )
        evaluator = self._evaluators.get(row.rule)
        if evaluator is not None:
            evaluator.reset(row.subject)
        return event

    def assign(self, alert_id: str, actor: str, assignee: str) -> AlertEvent:
        row = self.store.get(alert_id)
        if not row.is_open:
            raise InvalidTransitionError(alert_id, row.state, "assign")
        row.assignee = assignee
        detail: dict[str, object] = {"assignee": assignee}
        return self._change(row, row.state, "assign", now=self.clock(), actor=actor, detail=detail)

    def silence(
        self,
        *,
        actor: str,
        reason: str,
        ends: datetime,
        starts: datetime | None = None,
        rule: str | None = None,
        resident: str | None = None,
        subject: str | None = None,
        organisation: str | None = None,
    ) -> Silence:
        """Suppress new alerts and escalation for matching alerts of ``organisation`` (None:
        of every organisation) in ``[starts, ends)``; audited as "silence_created"."""
        now = self.clock()
        silence = Silence(
            f"s-{secrets.token_hex(8)}",
            rule,
            resident,
            subject,
            starts or now,
            ends,
            reason,
            actor,
            organisation,
        )
        self.store.add_silence(silence, now)
        self._silences = self.store.silences(now)
        return silence

    def end_silence(self, silence_id: str, actor: str = SYSTEM) -> bool:
        """End a silence now (audited as "silence_ended"); False if it was already over."""
        now = self.clock()
        ended = self.store.end_silence(silence_id, now, actor)
        self._silences = self.store.silences(now)
        return ended

    def audit(self, alert_id: str) -> list[AuditEntry]:
        self.store.get(alert_id)
        return self.store.audit(alert_id)

    # -- lifecycle -------------------------------------------------------------------------

    def _silenced(
        self, rule: str, subject: str, resident: str | None, org: str | None, now: datetime
    ) -> bool:
        return any(s.covers(rule, subject, resident, org, now) for s in self._silences)

    def _policy(self, rule_id: str) -> EscalationPolicy | None:
        rule = self.config.rule(rule_id)
        if rule is None or rule.escalation is None:
            return None
        return self.config.escalation.get(rule.escalation)

    def _start_escalation(self, row: AlertRow, now: datetime) -> None:
        policy = self._policy(row.rule)
        row.escalation_level = 0
        if policy is None:
            row.next_notify = None
            return
        first = policy.steps[0]
        row.assignee = first.responder
        row.next_notify = now + timedelta(seconds=first.ack_deadline_seconds)

    def _apply_all(self, signals: list[Signal], now: datetime) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for signal in signals:
            event = self._apply(signal, now)
            if event is not None:
                events.append(event)
        return events

    def _apply(self, signal: Signal, now: datetime) -> AlertEvent | None:
        row = self._open.get((signal.rule, signal.subject.key))
        with _unchanged_on_failure(row):
            return self._apply_to(row, signal, now)

    def _apply_to(self, row: AlertRow | None, signal: Signal, now: datetime) -> AlertEvent | None:
        if signal.firing:
            return self._fire(row, signal, now)
        if row is None or row.state is AlertState.CLEARED_UNACK:
            return None
        target = (
            AlertState.CLEARED_ACK
            if row.state is AlertState.ACTIVE_ACK
            else AlertState.CLEARED_UNACK
        )
        row.next_notify = None
        detail: dict[str, object] = {"summary": signal.summary}
        return self._change(row, target, "clear", now=now, detail=detail)

    def _fire(self, row: AlertRow | None, signal: Signal, now: datetime) -> AlertEvent | None:
        subject = signal.subject
        if row is None:
            if self._silenced(
                signal.rule, subject.key, subject.resident, subject.organisation, now
            ):
                return None
            row = AlertRow(
                id=self._new_id(),
                rule=signal.rule,
                subject=subject.key,
                resident=subject.resident,
                home=subject.home,
                organisation=subject.organisation,
                state=AlertState.ACTIVE_UNACK,
                severity=signal.severity,
                summary=signal.summary,
                assignee=None,
                sequence=-1,
                opened=now,
                updated=now,
            )
            _note_trigger(row, signal)
            self._start_escalation(row, now)
            return self._change(row, AlertState.ACTIVE_UNACK, "fire", now=now, new=True)
        if row.state is AlertState.CLEARED_UNACK:
            row.summary, row.severity = signal.summary, signal.severity
            _note_trigger(row, signal)
            self._start_escalation(row, now)
            return self._change(row, AlertState.ACTIVE_UNACK, "refire", now=now)
        if SEVERITY_RANK[signal.severity] > SEVERITY_RANK[row.severity]:
            detail: dict[str, object] = {"from": row.severity.value, "to": signal.severity.value}
            row.severity, row.summary = signal.severity, signal.summary
            _note_trigger(row, signal)
            return self._change(row, row.state, "severity", now=now, detail=detail)
        return None

    def _escalate(self, row: AlertRow, now: datetime) -> AlertEvent:
        policy = self._policy(row.rule)
        if policy is None:  # the rule lost its policy in a config change
            row.next_notify = None
            return self._change(row, row.state, "renotify", now=now)
        if row.escalation_level + 1 < len(policy.steps):
            row.escalation_level += 1
            step = policy.steps[row.escalation_level]
            row.assignee = step.responder
            row.next_notify = now + timedelta(seconds=step.ack_deadline_seconds)
            note = f"not acknowledged in time; escalated to {step.responder}"
            detail: dict[str, object] = {"responder": step.responder}
            return self._change(row, row.state, "escalate", now=now, note=note, detail=detail)
        row.next_notify = now + timedelta(seconds=policy.repeat_seconds)
        note = f"still not acknowledged; notifying {row.assignee} again"
        return self._change(row, row.state, "renotify", now=now, note=note)

    def _change(
        self,
        row: AlertRow,
        target: AlertState,
        action: str,
        *,
        now: datetime,
        actor: str = SYSTEM,
        note: str | None = None,
        detail: dict[str, object] | None = None,
        new: bool = False,
    ) -> AlertEvent:
        previous_state = None if new else row.state
        row.state, row.sequence, row.updated = target, row.sequence + 1, now
        event = AlertEvent(
            alert_id=row.id,
            sequence=row.sequence,
            rule=row.rule,
            resident=row.resident,
            home=row.home,
            state=target,
            previous_state=previous_state,
            severity=row.severity,
            time=now,
            actor=actor,
            note=note,
            summary=row.summary,
            escalation_level=row.escalation_level,
        )
        self.store.record(
            row, event, action, {**(detail or {}), "assignee": row.assignee}, self.channels
        )
        key = (row.rule, row.subject)
        if row.is_open:
            self._open[key] = row
        else:
            self._open.pop(key, None)
        self._emit(event, row.organisation)
        return event

    def _emit(self, event: AlertEvent, organisation: str | None) -> None:
        """Hand a stored change to the listeners (a durable engine: once it is committed)."""
        for listener in self._listeners:
            listener(event, organisation)


@contextmanager
def _unchanged_on_failure(row: AlertRow | None) -> Iterator[None]:
    """Put an open alert's fields back as they were when its change could not be stored, so
    that evaluating the same signal again (the hub retries) makes the same change."""
    saved = [(f.name, getattr(row, f.name)) for f in fields(row)] if row is not None else []
    try:
        yield
    except StorageError:
        for name, value in saved:
            setattr(row, name, value)
        raise
