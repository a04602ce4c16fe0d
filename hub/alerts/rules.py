"""Rule evaluators: pure state machines fed with inputs and the current time.

Each evaluator turns observations, gateway status and clock ticks into :class:`Signal` s
(the condition holds / no longer holds for a subject). Signals are idempotent: the engine
deduplicates them against open alerts, so an evaluator may repeat "firing".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.alerts import rules_time  # the schedule- and history-based evaluators
from hub.alerts.config import (
    BatteryLowRule,
    EventRule,
    GatewayOfflineRule,
    MeasureRef,
    RiskModelRule,
    Rule,
    ThresholdRule,
)
from hub.alerts.evaluator import Evaluator
from hub.alerts.inputs import (
    GatewayInput,
    ObservationInput,
    Signal,
    Subject,
    Trigger,
    has_code,
    readings,
)
from hub.alerts.snapshot import at, dec_in, dec_out, subject_in, subject_out, time_in, time_out

__all__ = [
    "Evaluator",
    "EventEvaluator",
    "GatewayOfflineEvaluator",
    "ThresholdEvaluator",
    "battery_rule",
    "build_evaluator",
]

_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class _Track:
    subject: Subject
    pending_since: datetime | None = None
    firing: bool = False
    last_value: Decimal | None = None
    last_time: datetime | None = None


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


@dataclass
class ThresholdEvaluator(Evaluator):
    rule: ThresholdRule
    tracks: dict[str, _Track] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._op = _OPS[self.rule.operator]
        self._limit = Decimal(str(self.rule.value))
        clear = self.rule.clear_value if self.rule.clear_value is not None else self.rule.value
        self._clear = Decimal(str(clear))
        self._pending = timedelta(seconds=self.rule.pending_seconds)
        self.interest = self.rule.watch.keys()
        self._unit = self.rule.watch.unit()

    def _subject(self, item: ObservationInput) -> Subject | None:
        if self.rule.per == "device":
            return Subject.of_device(item)
        return Subject.of_resident(item)

    def _signal(self, track: _Track, *, firing: bool) -> Signal:
        watch = self.rule.watch.label()
        value = _fmt(track.last_value) if track.last_value is not None else "?"
        text = self.rule.summary or f"{watch} {value} {self.rule.operator} {_fmt(self._limit)}"
        if not firing:
            text = f"{text} (cleared at {value})"
        trigger = Trigger(
            float(track.last_value) if track.last_value is not None else None,
            self._unit,
            track.last_time,
            {
                "kind": "threshold",
                "watch": watch,
                "operator": self.rule.operator,
                "limit": float(self._limit),
            },
        )
        return Signal(self.rule.id, track.subject, firing, self.rule.severity, text, trigger)

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:
        subject = self._subject(item)
        if subject is None:
            return []
        out: list[Signal] = []
        for value in readings(item.observation, self.interest or frozenset(), self._unit):
            track = self.tracks.setdefault(subject.key, _Track(subject))
            track.subject, track.last_value, track.last_time = subject, value, item.effective
            out.extend(self._step(track, value, now))
        return out

    def _step(self, track: _Track, value: Decimal, now: datetime) -> list[Signal]:
        if track.firing:
            if not self._op(value, self._clear):
                track.firing, track.pending_since = False, None
                return [self._signal(track, firing=False)]
            return [self._signal(track, firing=True)]
        if not self._op(value, self._limit):
            track.pending_since = None
            return []
        if track.pending_since is None:
            track.pending_since = now
        return self._maybe_fire(track, now)

    def _maybe_fire(self, track: _Track, now: datetime) -> list[Signal]:
        if track.pending_since is not None and now - track.pending_since >= self._pending:
            track.firing = True
            return [self._signal(track, firing=True)]
        return []

    def on_tick(self, now: datetime) -> list[Signal]:
        out: list[Signal] = []
        for track in self.tracks.values():
            if not track.firing:
                out.extend(self._maybe_fire(track, now))
        return out

    def reset(self, subject_key: str) -> None:
        self.tracks.pop(subject_key, None)

    def restore(self, subject: Subject, now: datetime) -> None:
        self.tracks[subject.key] = _Track(subject, pending_since=now, firing=True)

    def snapshot(self) -> dict[str, Any]:
        return {
            key: [
                subject_out(t.subject),
                time_out(t.pending_since),
                t.firing,
                dec_out(t.last_value),
                time_out(t.last_time),
            ]
            for key, t in self.tracks.items()
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for key, (subject, pending, firing, value, when) in states.items():
            self.tracks[key] = _Track(
                subject_in(subject), time_in(pending), bool(firing), dec_in(value), time_in(when)
            )


def battery_rule(rule: BatteryLowRule) -> ThresholdRule:
    """A battery rule is a per-device threshold on the ``battery`` measure."""
    return ThresholdRule(
        kind="threshold",
        id=rule.id,
        severity=rule.severity,
        summary=rule.summary,
        escalation=rule.escalation,
        watch=MeasureRef(measure="battery"),
        operator="<",
        value=rule.below_percent,
        clear_value=rule.clear_percent,
        per="device",
    )


@dataclass
class BatteryEvaluator(ThresholdEvaluator):
    """Battery readings from observations and from gateway status device health."""

    def on_gateway(self, item: GatewayInput, now: datetime) -> list[Signal]:
        out: list[Signal] = []
        for device in item.status.devices:
            if device.battery_percent is None:
                continue
            key = f"device:{device.id}"
            known = self.tracks.get(key)
            subject = known.subject if known else Subject(key, None, item.home, item.organisation)
            track = self.tracks.setdefault(key, _Track(subject))
            track.last_value = Decimal(device.battery_percent)
            track.last_time = device.last_seen or item.status.time
            out.extend(self._step(track, track.last_value, now))
        return out


@dataclass
class EventEvaluator(Evaluator):
    rule: EventRule

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self.interest = self.rule.watch.keys()

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:  # noqa: ARG002
        obs = item.observation
        code = obs.value_code
        if code is None or not has_code(obs, self.interest or frozenset()):
            return []
        subject = Subject.of_resident(item) or Subject.of_device(item)
        label = self.rule.watch.label()
        if code in self.rule.clear_codes:
            text = f"{label} {code}"
            return [Signal.clear(self.rule.id, subject, self.rule.severity, text)]
        if self.rule.codes and code not in self.rule.codes:
            return []
        text = self.rule.summary or f"{label}: {code}"
        trigger = Trigger(at=item.effective, detail={"kind": "event", "watch": label, "code": code})
        return [Signal.fire(self.rule.id, subject, self.rule.severity, text, trigger)]


@dataclass
class _Gateway:
    subject: Subject
    last_seen: datetime
    offline_since: datetime | None = None
    firing: bool = False
    watch_heartbeat: bool = True


@dataclass
class GatewayOfflineEvaluator(Evaluator):
    rule: GatewayOfflineRule
    gateways: dict[str, _Gateway] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._timeout = timedelta(seconds=self.rule.heartbeat_timeout_seconds)
        self._grace = timedelta(seconds=self.rule.grace_seconds)

    def _signal(self, gw: _Gateway, *, firing: bool, why: str) -> Signal:
        name = gw.subject.key.removeprefix("gateway:")
        text = self.rule.summary or f"gateway {name} {why}"
        reason = "last_will" if "last will" in why else "heartbeat"
        detail: dict[str, object] = {"kind": "gateway_offline", "gateway": name, "why": reason}
        trigger = Trigger(at=gw.offline_since or gw.last_seen, detail=detail)
        return Signal(self.rule.id, gw.subject, firing, self.rule.severity, text, trigger)

    def on_gateway(self, item: GatewayInput, now: datetime) -> list[Signal]:
        publisher = item.status.publisher
        subject = Subject(f"gateway:{publisher}", None, item.home, item.organisation)
        gw = self.gateways.setdefault(publisher, _Gateway(subject, now))
        gw.subject, gw.last_seen = subject, now
        gw.watch_heartbeat = not item.changes_only
        if not item.status.online:
            gw.offline_since = gw.offline_since or now
            return self._check(gw, now)
        gw.offline_since = None
        if gw.firing:
            gw.firing = False
            return [self._signal(gw, firing=False, why="is back online")]
        return []

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:
        gw = self.gateways.get(item.observation.source.publisher)
        if gw is not None and gw.offline_since is None:
            gw.last_seen = now
        return []

    def _check(self, gw: _Gateway, now: datetime) -> list[Signal]:
        if gw.firing:
            return []
        if gw.offline_since is not None and now - gw.offline_since >= self._grace:
            gw.firing = True
            return [self._signal(gw, firing=True, why="went offline (last will)")]
        if gw.watch_heartbeat and gw.offline_since is None and now - gw.last_seen > self._timeout:
            gw.firing = True
            return [self._signal(gw, firing=True, why="missed its heartbeats")]
        return []

    def on_tick(self, now: datetime) -> list[Signal]:
        return [s for gw in self.gateways.values() for s in self._check(gw, now)]

    # reset: a resolved offline alert stays resolved until the gateway is back online
    # (``firing`` stays true), so the base class no-op is right here.

    def restore(self, subject: Subject, now: datetime) -> None:
        publisher = subject.key.removeprefix("gateway:")
        self.gateways[publisher] = _Gateway(subject, now, offline_since=now, firing=True)

    def snapshot(self) -> dict[str, Any]:
        return {
            publisher: [
                subject_out(g.subject),
                time_out(g.last_seen),
                time_out(g.offline_since),
                g.firing,
                g.watch_heartbeat,
            ]
            for publisher, g in self.gateways.items()
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for publisher, (subject, seen, offline, firing, heartbeat) in states.items():
            self.gateways[publisher] = _Gateway(
                subject_in(subject), at(seen), time_in(offline), bool(firing), bool(heartbeat)
            )


def build_evaluator(rule: Rule) -> Evaluator:
    """The evaluator for one configured rule."""
    match rule:
        case ThresholdRule():
            return ThresholdEvaluator(rule)
        case BatteryLowRule():
            return BatteryEvaluator(battery_rule(rule))
        case EventRule():
            return EventEvaluator(rule)
        case GatewayOfflineRule():
            return GatewayOfflineEvaluator(rule)
        case RiskModelRule():  # the federated model (fl/), only for hubs that configure it
            from fl.risk_rule import RiskModelEvaluator

            return RiskModelEvaluator(rule)
        case _:
            return rules_time.build(rule)
