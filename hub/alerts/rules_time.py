"""Evaluators that depend on schedules and history: inactivity windows, device silence,
NEWS2 over the latest vital signs, and personal baseline deviation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hub.alerts.baseline import BaselineEvaluator
from hub.alerts.config import BaselineRule, InactivityRule, News2Rule, NoDataRule, Rule
from hub.alerts.evaluator import Evaluator, FiringSubjects
from hub.alerts.inputs import (
    ObservationInput,
    Signal,
    Subject,
    Trigger,
    has_code,
    observation_keys,
    readings,
)
from hub.alerts.news2 import News2Parameter, news2
from hub.alerts.snapshot import at, subject_in, subject_out, time_in, time_out
from hub.reading import Reading
from schemas.codes import HJEM_SYSTEM, codes
from schemas.models import Severity

__all__ = [
    "BaselineEvaluator",
    "InactivityEvaluator",
    "News2Evaluator",
    "NoDataEvaluator",
    "build",
]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class _Resident:
    subject: Subject
    known_since: datetime
    last_match: datetime | None = None
    evaluated: date | None = None
    firing: bool = False


@dataclass
class InactivityEvaluator(Evaluator):
    """Fires at the end of a daily local window in which no matching observation arrived."""

    rule: InactivityRule
    residents: dict[str, _Resident] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._zone = ZoneInfo(self.rule.timezone)
        self._keys = self.rule.watch.keys()

    def track(self, subject: Subject, now: datetime) -> None:
        known = self.residents.get(subject.key)
        if known is None:
            self.residents[subject.key] = _Resident(subject, now)
        else:
            known.subject = subject

    def restore(self, subject: Subject, now: datetime) -> None:
        self.track(subject, now)
        self.residents[subject.key].firing = True

    def snapshot(self) -> dict[str, Any]:
        return {
            key: [
                subject_out(r.subject),
                time_out(r.known_since),
                time_out(r.last_match),
                r.evaluated.isoformat() if r.evaluated else None,
                r.firing,
            ]
            for key, r in self.residents.items()
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for key, (subject, since, match, day, firing) in states.items():
            evaluated = date.fromisoformat(day) if day else None
            self.residents[key] = _Resident(
                subject_in(subject), at(since), time_in(match), evaluated, bool(firing)
            )

    def _counts(self, item: ObservationInput) -> bool:
        obs = item.observation
        if not has_code(obs, self._keys):
            return False
        if self.rule.room is not None and item.room != self.rule.room:
            return False
        return not (self.rule.require_true and obs.value_boolean is False)

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:
        if item.resident is None:
            return []
        resident = self.residents.get(f"resident:{item.resident}")
        if resident is None:
            subject = Subject.of_resident(item)
            assert subject is not None
            self.track(subject, now)
            resident = self.residents[subject.key]
        if not self._counts(item):
            return []
        subject = resident.subject
        seen = item.effective
        if resident.last_match is None or seen > resident.last_match:
            resident.last_match = seen
        if resident.firing and self._window_start(now) <= seen:
            resident.firing = False
            text = f"{self.rule.watch.label()} seen again"
            return [Signal.clear(self.rule.id, subject, self.rule.severity, text)]
        return []

    def _window_start(self, now: datetime) -> datetime:
        local = now.astimezone(self._zone)
        return datetime.combine(local.date(), self.rule.window_start, self._zone)

    def on_tick(self, now: datetime) -> list[Signal]:
        local = now.astimezone(self._zone)
        if _WEEKDAYS[local.weekday()] not in self.rule.days:
            return []
        start = datetime.combine(local.date(), self.rule.window_start, self._zone)
        end = datetime.combine(local.date(), self.rule.window_end, self._zone)
        if now < end:
            return []
        out: list[Signal] = []
        for resident in self.residents.values():
            if resident.evaluated == local.date() or resident.known_since > start:
                continue
            resident.evaluated = local.date()
            if resident.last_match is not None and resident.last_match >= start:
                continue
            resident.firing = True
            window = f"{self.rule.window_start:%H:%M}-{self.rule.window_end:%H:%M}"
            text = self.rule.summary or f"no {self.rule.watch.label()} between {window}"
            detail: dict[str, object] = {
                "kind": "inactivity",
                "watch": self.rule.watch.label(),
                "window": window,
                "room": self.rule.room,
            }
            trigger = Trigger(at=resident.last_match, detail=detail)
            out.append(
                Signal.fire(self.rule.id, resident.subject, self.rule.severity, text, trigger)
            )
        return out


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


@dataclass
class _Device:
    subject: Subject
    last_seen: datetime
    firing: bool = False


@dataclass
class NoDataEvaluator(Evaluator):
    rule: NoDataRule
    devices: dict[str, _Device] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._silence = timedelta(seconds=self.rule.max_silence_seconds)
        self._keys = self.rule.watch.keys() if self.rule.watch is not None else None

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:
        if self._keys is not None and not has_code(item.observation, self._keys):
            return []
        device = self.devices.get(f"device:{item.observation.source.device.id}")
        if device is None or device.subject.resident != item.resident:
            subject = Subject.of_device(item)
            device = self.devices.setdefault(subject.key, _Device(subject, now))
            device.subject = subject
        device.last_seen = now
        subject = device.subject
        if device.firing:
            device.firing = False
            return [Signal.clear(self.rule.id, subject, self.rule.severity, "data again")]
        return []

    def restore(self, subject: Subject, now: datetime) -> None:
        self.devices[subject.key] = _Device(subject, now, firing=True)

    def snapshot(self) -> dict[str, Any]:
        return {
            key: [subject_out(d.subject), time_out(d.last_seen), d.firing]
            for key, d in self.devices.items()
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for key, (subject, seen, firing) in states.items():
            self.devices[key] = _Device(subject_in(subject), at(seen), bool(firing))

    def on_tick(self, now: datetime) -> list[Signal]:
        out: list[Signal] = []
        for device in self.devices.values():
            if device.firing or now - device.last_seen <= self._silence:
                continue
            device.firing = True
            name = device.subject.key.removeprefix("device:")
            span = _span(self.rule.max_silence_seconds)
            text = self.rule.summary or f"no data from device {name} for {span}"
            detail: dict[str, object] = {
                "kind": "no_data",
                "device": name,
                "seconds": self.rule.max_silence_seconds,
            }
            trigger = Trigger(at=device.last_seen, detail=detail)
            out.append(Signal.fire(self.rule.id, device.subject, self.rule.severity, text, trigger))
        return out


_NOT_SCORED_FLAGS = frozenset({"demonstration-data", "testing-data"})


def _scorable(obs: Reading) -> bool:
    """A final reading of real data that is not a fast/slow variant of a vital sign.

    Preliminary readings (PLX ``measurement-ongoing``, ``early-estimate``), demonstration and
    testing data are never scored; neither is a reading that carries a Hjem code of a
    measure with an MDC Supplemental-Types modality (fast or slow SpO2 and pulse): those
    share the MDC code of the normal reading and must not replace it."""
    if obs.status != "preliminary" and not obs.demo and _NOT_SCORED_FLAGS.isdisjoint(obs.flags):
        return not any(
            c.system == HJEM_SYSTEM and c.code in codes() and codes()[c.code].supplemental
            for c in obs.code
        )
    return False


_NEWS2_SOURCES: dict[str, News2Parameter] = {
    "respiration_rate": News2Parameter.RESPIRATION_RATE,
    "spo2": News2Parameter.SPO2_SCALE_1,
    "blood_pressure_systolic": News2Parameter.SYSTOLIC_BP,
    "heart_rate": News2Parameter.PULSE,
    "pulse_rate_bp": News2Parameter.PULSE,
    "pulse_rate_oximeter": News2Parameter.PULSE,
    "body_temperature": News2Parameter.TEMPERATURE,
}


@dataclass
class News2Evaluator(FiringSubjects):
    rule: News2Rule
    latest: dict[str, dict[News2Parameter, tuple[datetime, Decimal]]] = field(default_factory=dict)
    firing: set[str] = field(default_factory=set)
    scales: dict[str, int] = field(default_factory=dict)
    """Per resident subject, the SpO2 scale of the newest observation's resident."""

    def __post_init__(self) -> None:
        self.rule_id = self.rule.id
        self._max_age = timedelta(seconds=self.rule.max_age_seconds)
        self._sources = [
            (frozenset({(codes()[k].primary.system, codes()[k].primary.code)}), codes()[k].unit, p)
            for k, p in _NEWS2_SOURCES.items()
        ]
        self.interest = frozenset().union(*(keys for keys, _, _ in self._sources))

    def on_observation(self, item: ObservationInput, now: datetime) -> list[Signal]:
        subject = Subject.of_resident(item)
        if subject is None:
            return []
        obs = item.observation
        if not _scorable(obs):
            return []
        changed = self.scales.get(subject.key, 1) != item.spo2_scale
        self.scales[subject.key] = item.spo2_scale
        latest = self.latest.setdefault(subject.key, {})
        present = observation_keys(obs)
        for keys, unit, parameter in self._sources:
            if keys.isdisjoint(present):
                continue
            for value in readings(obs, keys, unit):
                known = latest.get(parameter)
                if known is None or item.effective >= known[0]:
                    latest[parameter] = (item.effective, value)
                    changed = True
        return self._evaluate(subject, now) if changed and latest else []

    def _evaluate(self, subject: Subject, now: datetime) -> list[Signal]:
        scale_2 = self.scales.get(subject.key, 1) == 2
        fresh: dict[News2Parameter, Decimal | float | str] = {
            (News2Parameter.SPO2_SCALE_2 if scale_2 and p is News2Parameter.SPO2_SCALE_1 else p): v
            for p, (when, v) in self.latest[subject.key].items()
            if now - when <= self._max_age
        }
        if len(fresh) < self.rule.min_parameters:
            return []
        result = news2(dict(fresh))
        severity: Severity | None = None
        for level in self.rule.levels:
            if result.total >= level.min_score:
                severity = level.severity
        if severity is None and result.any_three:
            severity = self.rule.single_parameter_3
        parts = ", ".join(f"{p.value} {n}" for p, n in result.points.items())
        text = (
            f"NEWS2 (home subset) {result.total}: {parts}; not scored: {', '.join(result.missing)}"
        )
        if severity is not None:
            self.firing.add(subject.key)
            newest = max(when for when, _ in self.latest[subject.key].values())
            detail: dict[str, object] = {
                "kind": "news2",
                "points": {p.value: n for p, n in result.points.items()},
                "missing": list(result.missing),
            }
            trigger = Trigger(float(result.total), None, newest, detail)
            return [
                Signal.fire(self.rule.id, subject, severity, self.rule.summary or text, trigger)
            ]
        if subject.key in self.firing:
            self.firing.discard(subject.key)
            return [Signal.clear(self.rule.id, subject, self.rule.severity, text)]
        return []

    def snapshot(self) -> dict[str, Any]:
        keys = self.latest.keys() | self.firing | self.scales.keys()
        return {
            key: [
                key in self.firing,
                self.scales.get(key),
                {p.value: [time_out(w), str(v)] for p, (w, v) in self.latest.get(key, {}).items()},
            ]
            for key in keys
        }

    def load(self, states: Mapping[str, Any]) -> None:
        for key, (firing, scale, latest) in states.items():
            self.latest[key] = {
                News2Parameter(p): (at(w), Decimal(v)) for p, (w, v) in latest.items()
            }
            if scale is not None:
                self.scales[key] = int(scale)
            self.load_firing(key, firing=bool(firing))


def build(rule: Rule) -> Evaluator:
    match rule:
        case InactivityRule():
            return InactivityEvaluator(rule)
        case NoDataRule():
            return NoDataEvaluator(rule)
        case News2Rule():
            return News2Evaluator(rule)
        case BaselineRule():
            return BaselineEvaluator(rule)
        case _:
            raise TypeError(f"no evaluator for rule kind {rule.kind!r}")
