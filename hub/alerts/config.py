"""The alert rules file (TOML), validated with pydantic.

A wrong rule is rejected with a message that names the rule (its index and id) and the
problem, e.g. ``rule[2] 'spo2-low': clear_value: must not be below value for operator '<'``.
See ``deploy/alerts.example.toml`` and ``docs/alerts.md``.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from hub.alerts.errors import RulesConfigError
from schemas.codes import UnknownMeasureError, codes
from schemas.models import Coding, Severity

__all__ = [
    "BaselineRule",
    "BatteryLowRule",
    "EscalationPolicy",
    "EscalationStep",
    "EventRule",
    "GatewayOfflineRule",
    "InactivityRule",
    "MeasureRef",
    "News2Level",
    "News2Rule",
    "NoDataRule",
    "RiskModelRule",
    "Rule",
    "RulesConfig",
    "ThresholdRule",
    "load_rules",
    "parse_rules",
]

RuleId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]
Seconds = Annotated[float, Field(ge=0, le=366 * 86400, allow_inf_nan=False)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasureRef(_Strict):
    """What a rule watches: a Hjem measure key, or an explicit (system, code)."""

    measure: str | None = None
    system: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> MeasureRef:
        if self.measure is not None:
            if self.system is not None or self.code is not None:
                raise ValueError("give either measure or system+code, not both")
            try:
                codes()[self.measure]
            except UnknownMeasureError as exc:
                raise ValueError(str(exc.args[0])) from None
        elif self.system is None or self.code is None:
            raise ValueError("give measure (a key of schemas/codes.toml) or both system and code")
        return self

    def codings(self) -> tuple[Coding, ...]:
        """The codings an observation (or component) must carry one of to match."""
        if self.measure is not None:
            return (codes()[self.measure].primary,)
        return (Coding(system=str(self.system), code=str(self.code)),)

    def label(self) -> str:
        return self.measure or f"{self.system}|{self.code}"

    def keys(self) -> frozenset[tuple[str, str]]:
        return frozenset((c.system, c.code) for c in self.codings())

    def unit(self) -> str | None:
        """The unit readings are converted to (the measure's preferred unit)."""
        return codes()[self.measure].unit if self.measure is not None else None


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class _RuleBase(_Strict):
    id: RuleId
    severity: Severity = Severity.HIGH
    summary: Annotated[str, StringConstraints(max_length=200)] | None = None
    summaries: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=200)]] = (
        Field(default_factory=dict)
    )
    """The summary per dashboard language (``summaries = { da = "…", en = "…" }``)."""
    escalation: str | None = None
    enabled: bool = True


class ThresholdRule(_RuleBase):
    """Fire when a reading is beyond ``value`` for ``pending_seconds``.

    Clears when a reading is back past ``clear_value`` (hysteresis; default ``value``)."""

    kind: Literal["threshold"]
    watch: MeasureRef
    operator: Literal["<", "<=", ">", ">="]
    value: Number
    clear_value: Number | None = None
    pending_seconds: Seconds = 0
    per: Literal["resident", "device"] = "resident"

    @model_validator(mode="after")
    def _hysteresis_side(self) -> ThresholdRule:
        if self.clear_value is None:
            return self
        if self.operator in (">", ">=") and self.clear_value > self.value:
            raise ValueError(f"clear_value must not be above value for operator {self.operator!r}")
        if self.operator in ("<", "<=") and self.clear_value < self.value:
            raise ValueError(f"clear_value must not be below value for operator {self.operator!r}")
        return self


class BatteryLowRule(_RuleBase):
    """A sensor's battery below ``below_percent``; clears at ``clear_percent`` or above."""

    kind: Literal["battery_low"]
    severity: Severity = Severity.LOW
    below_percent: Annotated[float, Field(gt=0, le=100)] = 20
    clear_percent: Annotated[float, Field(gt=0, le=100)] = 30

    @model_validator(mode="after")
    def _order(self) -> BatteryLowRule:
        if self.clear_percent < self.below_percent:
            raise ValueError("clear_percent must be at least below_percent")
        return self


class InactivityRule(_RuleBase):
    """No matching observation for a resident during a daily local-time window."""

    kind: Literal["inactivity"]
    watch: MeasureRef
    window_start: time
    window_end: time
    timezone: str = "Europe/Copenhagen"
    days: list[Weekday] = Field(default_factory=lambda: list(_DAYS))
    room: str | None = None
    require_true: bool = Field(
        default=True, description="For boolean measures (motion), only value true counts."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> InactivityRule:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start (same day)")
        return self


class NoDataRule(_RuleBase):
    """No observation from a device (optionally of one measure) for ``max_silence_seconds``."""

    kind: Literal["no_data"]
    max_silence_seconds: Annotated[float, Field(gt=0, le=366 * 86400)]
    watch: MeasureRef | None = None


class GatewayOfflineRule(_RuleBase):
    """A gateway's Last Will (death) or no status for ``heartbeat_timeout_seconds``."""

    kind: Literal["gateway_offline"]
    heartbeat_timeout_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] = 180
    grace_seconds: Seconds = 0


class EventRule(_RuleBase):
    """A device-reported event (fall, panic, button) fires at once."""

    kind: Literal["event"]
    severity: Severity = Severity.CRITICAL
    watch: MeasureRef
    codes: list[str] = Field(default_factory=list, description="Empty: any event code.")
    clear_codes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_codes(self) -> EventRule:
        if self.watch.measure is None:
            return self
        measure = codes()[self.watch.measure]
        if measure.kind != "event":
            raise ValueError(f"measure {measure.key!r} is a {measure.kind}, not an event")
        unknown = [c for c in (*self.codes, *self.clear_codes) if c not in measure.events]
        if unknown:
            raise ValueError(
                f"event codes {unknown} are not events of {measure.key!r} "
                f"(known: {list(measure.events)})"
            )
        return self


class News2Level(_Strict):
    min_score: Annotated[int, Field(ge=1, le=20)]
    severity: Severity


class News2Rule(_RuleBase):
    """NEWS2 aggregate over the resident's latest home vital signs."""

    kind: Literal["news2"]
    levels: Annotated[list[News2Level], Field(min_length=1)]
    single_parameter_3: Severity | None = Field(
        default=Severity.MEDIUM, description="Severity when any one parameter scores 3."
    )
    max_age_seconds: Annotated[float, Field(gt=0)] = 4 * 3600
    min_parameters: Annotated[int, Field(ge=1, le=5)] = 3

    @model_validator(mode="after")
    def _ascending(self) -> News2Rule:
        scores = [level.min_score for level in self.levels]
        if scores != sorted(set(scores)):
            raise ValueError("levels must have strictly ascending min_score")
        return self


class BaselineRule(_RuleBase):
    """A reading far from the resident's own rolling median (robust z-score, median/MAD)."""

    kind: Literal["baseline"]
    severity: Severity = Severity.MEDIUM
    watch: MeasureRef
    window_days: Annotated[float, Field(gt=0, le=365)] = 14
    min_samples: Annotated[int, Field(ge=5, le=10000)] = 10
    max_samples: Annotated[int, Field(ge=5, le=100000)] = 2000
    score: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 3.5
    clear_score: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 2.5

    @model_validator(mode="after")
    def _order(self) -> BaselineRule:
        if self.clear_score > self.score:
            raise ValueError("clear_score must not exceed score")
        return self


class RiskModelRule(_RuleBase):
    """Daily deterioration-risk score from the federated model the hub accepted (fl/)."""

    kind: Literal["risk_model"]
    severity: Severity = Severity.LOW
    shelf: Path  # the hub's model directory (hjem fl model ...)
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    hour_utc: Annotated[int, Field(ge=0, le=23)] = 6


Rule = Annotated[
    ThresholdRule
    | BatteryLowRule
    | InactivityRule
    | NoDataRule
    | GatewayOfflineRule
    | EventRule
    | News2Rule
    | BaselineRule
    | RiskModelRule,
    Field(discriminator="kind"),
]
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


class EscalationStep(_Strict):
    responder: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    ack_deadline_seconds: Annotated[float, Field(gt=0, le=7 * 86400)]


class EscalationPolicy(_Strict):
    """An ordered responder chain; after the last step, re-notify every ``repeat_seconds``."""

    steps: Annotated[list[EscalationStep], Field(min_length=1, max_length=20)]
    repeat_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] = 600


class RulesConfig(_Strict):
    rules: list[Rule]
    escalation: dict[str, EscalationPolicy] = Field(default_factory=dict)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


_FLAT_KEYS = ("measure", "system", "code")
_KINDS = frozenset(
    {"threshold", "battery_low", "inactivity", "no_data", "gateway_offline", "event", "news2"}
    | {"baseline", "risk_model"}
)


def _lift_watch(raw: dict[str, Any]) -> dict[str, Any]:
    """Allow ``measure = "spo2"`` at rule level as shorthand for ``watch.measure``."""
    if "watch" in raw or not any(k in raw for k in _FLAT_KEYS):
        return raw
    out = {k: v for k, v in raw.items() if k not in _FLAT_KEYS}
    out["watch"] = {k: raw[k] for k in _FLAT_KEYS if k in raw}
    return out


def _where(index: int, raw: object) -> str:
    rule_id = raw.get("id") if isinstance(raw, dict) else None
    return f"rule[{index}] {rule_id!r}" if rule_id is not None else f"rule[{index}]"


def _errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"]]
        if parts and parts[0] in _KINDS:
            parts = parts[1:]
        loc = ".".join(parts)
        msg = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


def parse_rules(text: str, source: str = "<rules>") -> RulesConfig:
    """Parse and validate a rules file; raise :class:`RulesConfigError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesConfigError(source, [("toml", str(exc))]) from exc
    problems: list[tuple[str, str]] = []
    unknown = set(data) - {"rule", "escalation"}
    if unknown:
        problems.append(
            ("top level", f"unknown tables {sorted(unknown)}; use [[rule]], [escalation.NAME]")
        )
    rules: list[Rule] = []
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raw_rules = []
        problems.append(("rule", "write rules as [[rule]] tables"))
    for index, raw in enumerate(raw_rules):
        try:
            rules.append(_RULE.validate_python(_lift_watch(raw) if isinstance(raw, dict) else raw))
        except ValidationError as exc:
            problems.extend((_where(index, raw), msg) for msg in _errors(exc))
    policies: dict[str, EscalationPolicy] = {}
    for name, raw in (data.get("escalation") or {}).items():
        try:
            policies[name] = EscalationPolicy.model_validate(raw)
        except ValidationError as exc:
            problems.extend((f"escalation {name!r}", msg) for msg in _errors(exc))
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"rule {rule.id!r}"
        if rule.id in seen:
            problems.append((where, f"duplicate rule id (#{index})"))
        seen.add(rule.id)
        if rule.escalation is not None and rule.escalation not in policies:
            problems.append((where, f"escalation {rule.escalation!r} is not defined"))
    if problems:
        raise RulesConfigError(source, problems)
    return RulesConfig(rules=rules, escalation=policies)


def load_rules(path: Path) -> RulesConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesConfigError(str(path), [("file", exc.strerror or str(exc))]) from exc
    return parse_rules(text, source=str(path))
