"""Validation of incoming messages: never raises on any input, always names path and reason.

The rule for partly valid batches (documented for vendors in ``schemas/README.md``):

* The **envelope** (size, JSON syntax, ``schema``, ``message_id``, ``publisher``, ``sent``, the
  ``observations`` list and its length) must be valid, and the publisher must be the one the
  message arrived as (topic and MQTT username, or HTTP token). Otherwise the whole message is
  rejected and nothing of it is stored.
* Each **observation** is then judged on its own: the valid ones are accepted and stored, each
  invalid one is rejected with its JSON path and reason. A rejection lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.code_rules import check_codes
from schemas.codes import CodesTable, codes
from schemas.duplicates import repeated_keys
from schemas.models import (
    MAX_OBSERVATIONS_PER_BATCH,
    MAX_PAYLOAD_BYTES,
    Batch,
    Identifier,
    Observation,
    PublisherId,
    RejectionError,
    UtcTime,
)

__all__ = [
    "EARLIEST_EFFECTIVE",
    "MAX_CLOCK_SKEW",
    "BatchResult",
    "ObservationFields",
    "check_observation",
    "validate_batch",
]

MAX_CLOCK_SKEW = timedelta(minutes=10)
"""How far in the future (by the receiver's clock) an observation may lie."""
EARLIEST_EFFECTIVE = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
"""Earlier times come from devices whose clock was never set; they must be corrected first."""


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    message_id: Identifier
    publisher: PublisherId
    sent: UtcTime
    observations: Annotated[list[Any], Field(min_length=1, max_length=MAX_OBSERVATIONS_PER_BATCH)]


@dataclass(slots=True)
class BatchResult:
    """What validation made of one message."""

    message_id: str | None
    publisher: str | None
    accepted: list[Observation] = field(default_factory=list)
    errors: list[RejectionError] = field(default_factory=list)

    @property
    def rejected_whole(self) -> bool:
        """True when the envelope was refused and no observation was even looked at."""
        return not self.accepted and any(
            not e.path.startswith("$.observations[") for e in self.errors
        )

    @property
    def rejected_count(self) -> int:
        return len(
            {e.path.split("]")[0] for e in self.errors if e.path.startswith("$.observations[")}
        )


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _reason(err: Any) -> str:
    if err["type"] == "string_type" and err["loc"] and err["loc"][-1] == "value":
        return 'value must be a decimal string such as "36.60" (a JSON number loses precision)'
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _errors_of(
    exc: ValidationError, prefix: str, obs_id: str | None = None
) -> list[RejectionError]:
    return [
        RejectionError(
            path=_path(prefix, err["loc"])[:256], reason=_reason(err)[:512], observation_id=obs_id
        )
        for err in exc.errors(include_url=False, include_input=False)[:20]
    ]


class ObservationFields(Protocol):
    """What the semantic checks read: the model :class:`Observation`, or the hub's reading
    struct (:class:`hub.reading.Reading`, same field names, its time parsed to UTC as well)."""

    @property
    def source(self) -> Any: ...
    @property
    def code(self) -> Sequence[Any]: ...
    @property
    def effective(self) -> datetime: ...
    @property
    def value(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def value_boolean(self) -> bool | None: ...
    @property
    def value_code(self) -> str | None: ...
    @property
    def components(self) -> Sequence[Any]: ...


def check_observation(
    obs: ObservationFields, publisher: str, now: datetime, table: CodesTable | None = None
) -> list[tuple[str, str]]:
    """Semantic checks beyond the model: binding, time window, codes and units.

    Returns (relative path, reason) pairs; empty when the observation is acceptable.
    """
    problems: list[tuple[str, str]] = []
    if obs.source.publisher != publisher:
        problems.append(
            (
                "source.publisher",
                f"source publisher {obs.source.publisher!r} is not the sender {publisher!r}",
            )
        )
    effective = obs.effective
    if effective > now + MAX_CLOCK_SKEW:
        problems.append(("effective", f"time {effective.isoformat()} lies in the future"))
    elif effective < EARLIEST_EFFECTIVE:
        problems.append(
            ("effective", "time before 2000-01-01: device clock not set or not corrected")
        )
    problems.extend(check_codes(obs, table or codes()))
    return problems


_UNREADABLE = object()


def _parse(payload: bytes | str, result: BatchResult) -> object:
    """The message parsed (the only time the models' side parses it); ``_UNREADABLE``, with
    the error in ``result``, when it is too large or not JSON."""
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD_BYTES:
        result.errors.append(
            RejectionError(
                path="$",
                reason=f"message is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
            )
        )
        return _UNREADABLE
    try:
        data: object = pydantic_core.from_json(payload, allow_inf_nan=False)
    except ValueError as exc:
        result.errors.append(RejectionError(path="$", reason=f"not valid JSON: {exc}"[:512]))
        return _UNREADABLE
    return data


def _envelope(
    data: object, expected_publisher: str | None, now: datetime, result: BatchResult
) -> _Envelope | None:
    if not isinstance(data, dict):
        result.errors.append(RejectionError(path="$", reason="message must be a JSON object"))
        return None
    if isinstance(data.get("message_id"), str):
        result.message_id = data["message_id"][:128]
    try:
        env = _Envelope.model_validate(data)
    except ValidationError as exc:
        result.errors.extend(
            e for e in _errors_of(exc, "$") if not e.path.startswith("$.observations[")
        )
        if not result.errors:
            result.errors.extend(_errors_of(exc, "$"))
        return None
    result.publisher = env.publisher
    if expected_publisher is not None and env.publisher != expected_publisher:
        result.errors.append(
            RejectionError(
                path="$.publisher",
                reason=f"publisher {env.publisher!r} does not match the sender "
                f"{expected_publisher!r}",
            )
        )
        return None
    if env.sent > now + MAX_CLOCK_SKEW:
        result.errors.append(
            RejectionError(
                path="$.sent",
                reason=f"sent time {env.sent.isoformat()} lies in the future (publisher clock?)",
            )
        )
        return None
    return env


def validate_batch(
    payload: bytes | str,
    *,
    now: datetime,
    expected_publisher: str | None = None,
    table: CodesTable | None = None,
) -> BatchResult:
    """Validate one message. Never raises; see the module docstring for the rule.

    The message is parsed once; a message that repeats a key is read a second time to name
    where (:mod:`schemas.duplicates`)."""
    result = BatchResult(message_id=None, publisher=None)
    data = _parse(payload, result)
    if data is _UNREADABLE:
        return result
    repeated = _repeated_keys(payload, data, result)
    if repeated is None:
        return result
    try:  # the whole batch valid as far as the models go: no need to look at each part
        batch = Batch.model_validate(data)
    except ValidationError:
        batch = None
    if (
        batch is not None
        and (expected_publisher is None or batch.publisher == expected_publisher)
        and batch.sent <= now + MAX_CLOCK_SKEW
    ):
        result.message_id, result.publisher = batch.message_id, batch.publisher
        _judge(
            list(enumerate(batch.observations)),
            batch.publisher,
            now,
            table,
            result,
            repeated=repeated,
        )
        return result
    env = _envelope(data, expected_publisher, now, result)
    if env is None:
        return result
    candidates: list[tuple[int, Observation]] = []
    for index, raw in enumerate(env.observations):
        prefix = f"$.observations[{index}]"
        obs_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        try:
            candidates.append((index, Observation.model_validate(raw)))
        except ValidationError as exc:
            result.errors.extend(_errors_of(exc, prefix, obs_id[:128] if obs_id else None))
    _judge(candidates, env.publisher, now, table, result, repeated=repeated)
    return result


_ESCAPES = re.compile(rb"\\.", re.DOTALL)
_TEXT_ESCAPES = re.compile(r"\\.", re.DOTALL)


def _strings(text: bytes | str) -> int:
    """Twice the number of JSON strings (keys included) in a JSON text: its quotes once the
    escapes are taken out (in JSON every other quote is a string's)."""
    if isinstance(text, str):
        return _TEXT_ESCAPES.sub("", text).count('"')
    return _ESCAPES.sub(b"", text).count(b'"')


def _may_repeat_keys(payload: bytes | str, data: object) -> bool:
    """False when no object of the message repeats a key: the parsed data, written out again,
    holds as many strings as the message (a repeated key is lost in parsing, with its string)."""
    try:
        return _strings(pydantic_core.to_json(data)) != _strings(payload)
    except ValueError:  # cannot be written out again: look the slow way
        return True


def _repeated_keys(
    payload: bytes | str, data: object, result: BatchResult
) -> dict[int, list[tuple[str, str]]] | None:
    """Repeated keys per observation index; None, with the errors in ``result``, when the
    envelope repeats a key (then the whole message is refused)."""
    if not _may_repeat_keys(payload, data):
        return {}
    envelope, per_observation = repeated_keys(payload)
    if not envelope:
        return per_observation
    result.errors.extend(RejectionError(path=path, reason=reason) for path, reason in envelope)
    if isinstance(data, dict) and isinstance(data.get("message_id"), str):
        result.message_id = data["message_id"][:128]
    return None


def _judge(
    candidates: list[tuple[int, Observation]],
    publisher: str,
    now: datetime,
    table: CodesTable | None,
    result: BatchResult,
    *,
    repeated: dict[int, list[tuple[str, str]]],
) -> None:
    seen: set[str] = set()
    for index, obs in candidates:
        prefix = f"$.observations[{index}]"
        problems = repeated.get(index) or check_observation(obs, publisher, now, table)
        if obs.id in seen:
            problems.append(("id", f"observation id {obs.id!r} occurs twice in this message"))
        if problems:
            result.errors.extend(
                RejectionError(path=f"{prefix}.{p}", reason=r, observation_id=obs.id)
                for p, r in problems
            )
            continue
        seen.add(obs.id)
        result.accepted.append(obs)
