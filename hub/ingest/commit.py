"""From received bytes to committed rows: judging messages (pure) and committing them.

:func:`judge` is pure: topic, payload, time and a resolver in; accepted observations (with
their resident), a Rejection and a dead letter out. :class:`Ingestor` commits a group of
judged messages in one SQLite transaction (observations, dead letters, gateway status,
counters); only after it returns may the transport acknowledge the messages.

Identity binding: the publisher is taken from the topic (which the broker ACL ties to the
MQTT username, ``pattern write hjem/v1/%u/#``) or from the HTTP bearer token. The payload's
``publisher`` and every observation's ``source.publisher`` must equal it; a mismatched
envelope refuses the whole message, a mismatched observation refuses that observation.

Device binding: a reading is accepted only from the publisher its device belongs to at the
reading's time (:mod:`hub.registry.resolver`); any other sender's reading is refused with a reason,
dead-lettered and counted (``observations_refused_unbound``), and stores nothing.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from hub.db import Connection, to_micros, transaction
from hub.errors import StoreError
from hub.ingest.fastpath import Accepted, accept
from hub.ingest.verdicts import restore
from hub.mqtt.inbound import Inbound
from hub.registry.core import Registry
from hub.registry.gateways import GatewayChange, Gateways
from hub.registry.resolver import Refused
from hub.store.base import StoredObservation, TimeSeriesStore
from hub.store.ledger import DeadLetter, Ledger
from schemas.models import MAX_REJECTION_ERRORS, GatewayStatus, Rejection, RejectionError
from schemas.topics import TopicError, errors_topic, parse_topic
from schemas.validation import validate_batch

__all__ = ["Inbound", "Ingestor", "Judged", "Judgement", "Processed", "judge", "judge_all"]

Resolver = Callable[[str, int, str], "str | Refused | None"]
"""(device, effective µs, publisher) -> resident, None (unassigned) or REFUSED: the
registry's snapshot (:mod:`hub.registry.resolver`)."""


@dataclass(slots=True)
class Judgement:
    inbound: Inbound
    kind: Literal["obs", "status", "other"]
    publisher: str | None
    message_id: str | None = None
    items: list[StoredObservation] = field(default_factory=list)
    status: GatewayStatus | None = None
    rejection: Rejection | None = None
    dead_letter: DeadLetter | None = None
    offered: int = 0
    unbound: int = 0
    """Observations refused because their device belongs to another publisher."""

    @property
    def reply_topic(self) -> str | None:
        if self.rejection is None or self.publisher is None:
            return None
        return errors_topic(self.publisher)


def _problem(  # noqa: PLR0917 - private helper, every argument is part of the record
    inbound: Inbound,
    publisher: str | None,
    message_id: str | None,
    errors: list[RejectionError],
    accepted: int,
    rejected: int,
    now: datetime,
) -> tuple[Rejection | None, DeadLetter]:
    letter = DeadLetter(
        now,
        inbound.transport,
        inbound.topic,
        publisher,
        message_id,
        accepted,
        rejected,
        tuple(errors),
        inbound.payload,
    )
    if publisher is None:
        return None, letter
    rejection = Rejection(
        message_id=message_id,
        publisher=publisher,
        topic=inbound.topic[:512],
        time=now,
        accepted=accepted,
        rejected=rejected,
        errors=errors[:MAX_REJECTION_ERRORS],
    )
    return rejection, letter


_topic = functools.lru_cache(maxsize=10_000)(parse_topic)
"""parse_topic for the topics seen (a few per publisher), each parsed once; invalid topics
raise TopicError and are not remembered."""


def judge(inbound: Inbound, *, now: datetime, resolve: Resolver) -> Judgement:
    """Validate one message against its topic's publisher. Pure; never raises."""
    try:
        topic = _topic(inbound.topic)
    except TopicError as exc:
        judgement = Judgement(inbound, "other", None)
        _, judgement.dead_letter = _problem(
            inbound, None, None, [RejectionError(path="topic", reason=str(exc)[:512])], 0, 0, now
        )
        return judgement
    if topic.kind == "status":
        return _judge_status(inbound, topic.publisher, now)
    if topic.kind != "obs":
        judgement = Judgement(inbound, "other", topic.publisher)
        reason = f"hub does not accept messages on {topic.kind!r} topics"
        _, judgement.dead_letter = _problem(
            inbound, None, None, [RejectionError(path="topic", reason=reason)], 0, 0, now
        )
        return judgement
    fast = None
    if inbound.verdict is not None:
        fast = restore(inbound.verdict, publisher=topic.publisher)
    if fast is None:
        fast = accept(inbound.payload, now=now, expected_publisher=topic.publisher)
    if fast is not None:
        return _judge_accepted(inbound, fast, now, resolve)
    result = validate_batch(inbound.payload, now=now, expected_publisher=topic.publisher)
    judgement = Judgement(inbound, "obs", topic.publisher, result.message_id)
    positions = _positions(result.errors, len(result.accepted), result.rejected_count)
    payload = inbound.payload if positions is not None else None
    errors = list(result.errors)
    for i, obs in enumerate(result.accepted):
        position = positions[i] if positions is not None else -1
        resident = resolve(obs.source.device.id, to_micros(obs.effective), topic.publisher)
        if isinstance(resident, Refused):
            errors.append(_unbound_error(position, obs.source.device.id, topic.publisher, resident))
            continue
        judgement.items.append(
            StoredObservation(obs, topic.publisher, resident, now, payload, position)
        )
    judgement.offered = len(result.accepted) + result.rejected_count
    judgement.unbound = len(result.accepted) - len(judgement.items)
    if errors:
        judgement.rejection, judgement.dead_letter = _problem(
            inbound,
            topic.publisher,
            result.message_id,
            errors,
            len(judgement.items),
            judgement.offered - len(judgement.items),
            now,
        )
    return judgement


def _unbound_error(
    position: int, device_id: str, publisher: str, refused: Refused
) -> RejectionError:
    """Why a reading of a device that belongs to another publisher (or of a retired
    publisher: ``refused.reason``) is refused."""
    where = f"$.observations[{position}]" if position >= 0 else "$.observations[?]"
    return RejectionError(
        path=f"{where}.source.device.id",
        reason=refused.reason[:512]
        or (
            f"device {device_id!r} is not bound to publisher {publisher!r} at this time: a "
            "device's readings come from a gateway of its resident's home or from the "
            "publisher it is bound to (hjem admin bind-device)"
        )[:512],
    )


def _judge_accepted(
    inbound: Inbound, fast: Accepted, now: datetime, resolve: Resolver
) -> Judgement:
    """A wholly valid message, as decoded by the fast path."""
    judgement = Judgement(inbound, "obs", fast.publisher, fast.message_id)
    payload, publisher, stored = inbound.payload, fast.publisher, fast.stored_payload
    items = judgement.items
    errors: list[RejectionError] = []
    for position, obs in enumerate(fast.observations):
        item = StoredObservation(
            obs, publisher, None, now, payload, position, stored_payload=stored
        )
        resident = resolve(obs.source.device.id, item.effective_us, publisher)
        if isinstance(resident, Refused):
            errors.append(_unbound_error(position, obs.source.device.id, publisher, resident))
            continue
        item.resident_id = resident
        items.append(item)
    judgement.offered = len(fast.observations)
    if errors:
        judgement.unbound = len(errors)
        judgement.rejection, judgement.dead_letter = _problem(
            inbound, publisher, fast.message_id, errors, len(items), len(errors), now
        )
    return judgement


def _positions(errors: list[RejectionError], accepted: int, rejected: int) -> list[int] | None:
    """Indices of the accepted observations in the message (None if they cannot be told)."""
    if not errors:
        return list(range(accepted))
    refused = {
        int(e.path[len("$.observations[") :].split("]")[0])
        for e in errors
        if e.path.startswith("$.observations[")
    }
    positions = [i for i in range(accepted + rejected) if i not in refused]
    return positions if len(positions) == accepted else None


def _judge_status(inbound: Inbound, publisher: str, now: datetime) -> Judgement:
    judgement = Judgement(inbound, "status", publisher)
    errors: list[RejectionError] = []
    try:
        status = GatewayStatus.model_validate_json(inbound.payload)
    except ValidationError as exc:
        errors = [
            RejectionError(path=f"$.{'.'.join(map(str, e['loc']))}"[:256], reason=e["msg"][:512])
            for e in exc.errors(include_url=False, include_input=False)[:20]
        ]
    else:
        if status.publisher != publisher:
            errors = [
                RejectionError(
                    path="$.publisher",
                    reason=f"publisher {status.publisher!r} does not match the sender "
                    f"{publisher!r}",
                )
            ]
        else:
            judgement.status = status
    if errors:
        judgement.rejection, judgement.dead_letter = _problem(
            inbound, publisher, None, errors, 0, 1, now
        )
    return judgement


@dataclass(frozen=True, slots=True)
class Processed:
    judgements: list[Judgement]
    stored: list[StoredObservation]
    """Observations stored for the first time by this commit (redeliveries excluded)."""
    changes: list[GatewayChange]


class Ingestor:
    """Judges a group of messages and commits them in one transaction."""

    def __init__(
        self,
        conn: Connection,
        *,
        registry: Registry,
        store: TimeSeriesStore,
        ledger: Ledger,
        gateways: Gateways,
        clock: Callable[[], datetime],
    ) -> None:
        self._conn = conn
        self.registry = registry
        self.store = store
        self.ledger = ledger
        self.gateways = gateways
        self._clock = clock

    def process(self, inbounds: Sequence[Inbound]) -> Processed:
        """Judge and commit; raises StoreError (nothing committed) when storage fails."""
        return self.commit(judge_all(inbounds, now=self._clock(), resolve=self.registry.resolver()))

    def commit(self, judged: Judged) -> Processed:
        """Store judged messages in one transaction; raises StoreError (nothing committed).

        Judging (:func:`judge_all`, pure) and committing are separate steps so that each
        can be measured and run on its own (``hjem bench ingest`` does).
        """
        if self._conn.in_transaction:  # joining it would acknowledge uncommitted data
            raise StoreError("sqlite", "commit", "a transaction is already open on the connection")
        now, judgements = judged.now, judged.judgements
        items = [item for j in judgements for item in j.items]
        changes: list[GatewayChange] = []
        with transaction(self._conn, operation="ingest commit"):
            stored = self.store.write_new(items)
            self.ledger.add_dead_letters(j.dead_letter for j in judgements if j.dead_letter)
            for j in judgements:
                if j.status is not None:
                    change = self.gateways.record(j.status, now, retained=j.inbound.retained)
                    changes.extend([change] if change else [])
            changes.extend(
                self.gateways.touch({j.publisher for j in judgements if j.items}, now)  # type: ignore[misc]
            )
            noted = self.registry.note_devices({i.device_id: i.publisher for i in items}, now)
            self.ledger.bump(_counts(judgements, len(items), len(stored)))
        self.registry.devices_noted(noted)
        return Processed(judgements, stored, changes)


@dataclass(frozen=True, slots=True)
class Judged:
    """Judged messages waiting for their commit."""

    judgements: list[Judgement]
    now: datetime


def judge_all(inbounds: Sequence[Inbound], *, now: datetime, resolve: Resolver) -> Judged:
    """Judge a group of messages (pure; see :func:`judge`)."""
    return Judged([judge(i, now=now, resolve=resolve) for i in inbounds], now)


def _counts(judgements: list[Judgement], accepted: int, stored: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for j in judgements:
        counts[f"{j.kind}_messages_received"] += 1
        if j.dead_letter is not None:
            whole = j.kind != "obs" or not j.items
            counts[f"{j.kind}_messages_rejected" if whole else "obs_messages_partly_rejected"] += 1
        counts["observations_rejected"] += j.offered - len(j.items)
        if j.unbound:
            counts["observations_refused_unbound"] += j.unbound
    counts["observations_accepted"] = accepted
    counts["observations_stored"] = stored
    counts["observations_duplicate"] = accepted - stored
    return counts
