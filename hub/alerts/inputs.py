"""What the alert engine consumes (observations with their resident, gateway status) and
what its rule evaluators produce (signals). Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from hub.reading import Reading, ReadingCoding, reading_of
from schemas.models import Coding, GatewayStatus, Observation, Severity

__all__ = [
    "GatewayInput",
    "Key",
    "ObservationInput",
    "Signal",
    "Subject",
    "Trigger",
    "convert",
    "has_code",
    "keys_of",
    "observation_keys",
    "readings",
]


@dataclass(frozen=True, slots=True, init=False)
class ObservationInput:
    """A stored observation (:class:`hub.reading.Reading`) with what the hub resolved about it.

    A schema model given as ``observation`` (tests, tools) is turned into its reading at once.
    """

    observation: Reading
    resident: str | None
    home: str | None
    organisation: str | None
    room: str | None
    spo2_scale: int
    """The resident's prescribed NEWS2 SpO2 scale (1, or 2 for hypercapnic respiratory
    failure), from the registry."""

    def __init__(  # noqa: PLR0917 - the record's own fields, positional as a dataclass's
        self,
        observation: Reading | Observation,
        resident: str | None,
        home: str | None = None,
        organisation: str | None = None,
        room: str | None = None,
        spo2_scale: int = 1,
    ) -> None:
        if type(observation) is not Reading and isinstance(observation, Observation):
            observation = reading_of(observation)  # (the type test first: it is cheaper)
        setattr_ = object.__setattr__  # frozen: as the dataclass's own __init__ sets fields
        setattr_(self, "observation", observation)
        setattr_(self, "resident", resident)
        setattr_(self, "home", home)
        setattr_(self, "organisation", organisation)
        setattr_(self, "room", room)
        setattr_(self, "spo2_scale", spo2_scale)

    @property
    def effective(self) -> datetime:
        """The effective time, in UTC."""
        return self.observation.effective


@dataclass(frozen=True, slots=True)
class GatewayInput:
    """A gateway status. ``changes_only``: the source reports only online/offline changes
    (the hub, which detects missed heartbeats itself), so the rule does not time out."""

    status: GatewayStatus
    home: str | None = None
    organisation: str | None = None
    changes_only: bool = False


@dataclass(frozen=True, slots=True)
class Subject:
    """Who or what an alert is about; ``key`` is the dedup key next to the rule id."""

    key: str
    resident: str | None = None
    home: str | None = None
    organisation: str | None = None

    @classmethod
    def of_resident(cls, item: ObservationInput) -> Subject | None:
        if item.resident is None:
            return None
        return cls(f"resident:{item.resident}", item.resident, item.home, item.organisation)

    @classmethod
    def of_device(cls, item: ObservationInput) -> Subject:
        device = item.observation.source.device.id
        return cls(f"device:{device}", item.resident, item.home, item.organisation)


@dataclass(frozen=True, slots=True)
class Trigger:
    """What made a rule fire: the reading (value in ``unit``, taken at ``at``) and the facts
    a page needs to say it in any language (``detail``: JSON-able, per rule kind)."""

    value: float | None = None
    unit: str | None = None
    at: datetime | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict about one subject: the condition holds (firing) or no longer does."""

    rule: str
    subject: Subject
    firing: bool
    severity: Severity
    summary: str
    trigger: Trigger | None = None

    @classmethod
    def fire(
        cls,
        rule: str,
        subject: Subject,
        severity: Severity,
        summary: str,
        trigger: Trigger | None = None,
    ) -> Signal:
        return cls(rule, subject, firing=True, severity=severity, summary=summary, trigger=trigger)

    @classmethod
    def clear(cls, rule: str, subject: Subject, severity: Severity, summary: str) -> Signal:
        return cls(rule, subject, firing=False, severity=severity, summary=summary)


# (from unit, to unit) -> factor and offset: to = from * factor + offset
_CONVERSIONS: dict[tuple[str, str], tuple[Decimal, Decimal]] = {
    ("[degF]", "Cel"): (Decimal(5) / Decimal(9), Decimal(-160) / Decimal(9)),
    ("kPa", "mm[Hg]"): (Decimal("7.50062"), Decimal(0)),
    ("mg/dL", "mmol/L"): (Decimal(1) / Decimal("18.016"), Decimal(0)),
    ("Pa", "hPa"): (Decimal("0.01"), Decimal(0)),
    ("[lb_av]", "kg"): (Decimal("0.45359237"), Decimal(0)),
    ("[in_i]", "m"): (Decimal("0.0254"), Decimal(0)),
}


def convert(value: Decimal, unit: str | None, target: str | None) -> Decimal | None:
    """``value`` in ``target`` units, or None when the units cannot be converted."""
    if target is None or unit == target:
        return value
    if unit is None:
        return None
    rule = _CONVERSIONS.get((unit, target))
    if rule is None:
        return None
    factor, offset = rule
    return value * factor + offset


Key = tuple[str, str]
"""(system, code) of a coding."""


def keys_of(codings: tuple[Coding, ...] | list[Coding]) -> frozenset[Key]:
    return frozenset((c.system, c.code) for c in codings)


def observation_keys(observation: Reading) -> frozenset[Key]:
    """Every (system, code) of an observation and of its components."""
    keys = {(c.system, c.code) for c in observation.code}
    for comp in observation.components:
        keys.update((c.system, c.code) for c in comp.code)
    return frozenset(keys)


def _matches(codings: Sequence[ReadingCoding], wanted: frozenset[Key]) -> bool:
    return any((c.system, c.code) in wanted for c in codings)


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def readings(
    observation: Reading, wanted: frozenset[Key], target_unit: str | None
) -> Iterator[Decimal]:
    """Numeric values of ``wanted`` in ``observation`` (itself or a component), converted to
    ``target_unit`` when one is given (readings in other, unconvertible units are skipped)."""
    candidates: list[tuple[str | None, str | None]] = []
    if _matches(observation.code, wanted):
        candidates.append((observation.value, observation.unit))
    candidates.extend(
        (comp.value, comp.unit) for comp in observation.components if _matches(comp.code, wanted)
    )
    for text, unit in candidates:
        if text is None:
            continue
        value = _decimal(text)
        converted = convert(value, unit, target_unit) if value is not None else None
        if converted is not None:
            yield converted


def has_code(observation: Reading, wanted: frozenset[Key]) -> bool:
    return _matches(observation.code, wanted)
