"""The push exporter: new observations to each recipient's FHIR server, from the outbox.

Queueing (:meth:`PushExporter.take_stored`): each recipient reads the store's numbered feed
(:meth:`~hub.store.base.TimeSeriesStore.stored_since`, commit order) from its own cursor, and
queues what it read and moves its cursor in one transaction; a crash at any point leaves the
cursor where the queue is, so nothing stored is ever skipped, however the hub stopped. An
observation is queued only when its resident has a consent in force for the recipient's
organisation and purpose (hub.fhir.consent); the others never enter the outbox. A recipient
configured for the first time starts at the newest stored observation. The post-commit
:meth:`PushExporter.listener` only wakes the exporter.

Sending (:meth:`PushExporter.push_once`, looped by :meth:`PushExporter.run`): the oldest rows
that fit one transaction Bundle (hub.fhir.push.bundle), the consent asked again for each (a
revoked consent takes effect at once: those rows are *withheld*, dropped unsent), POSTed to the
base URL. The answer decides:

* 200 with a ``transaction-response``: delivered, the rows leave the outbox;
* no answer, 401/403/404/408/429 or 5xx: the rows stay and the recipient waits, with
  exponential backoff (``backoff_initial_s`` doubling to ``backoff_max_s``); nothing is lost
  however long the recipient is away, and a resent Bundle creates nothing twice (conditional
  create);
* 400/409/412/422 (the recipient refuses the content): a Bundle of several rows is sent again
  row by row, and a row refused on its own is *parked* with the answer, for the operator.

Audited (hub.admin.audit, filed under the residents' and the recipient's organisations):
each delivery (who received which residents' observations: a disclosure), a recipient that
starts failing and one that recovers, a parked row, withheld rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from foundation.clock import Clock, utcnow
from foundation.waiting import wait_for
from hub.admin.audit import record_admin_action
from hub.db import Connection, transaction
from hub.errors import StoreError
from hub.events import HubEvent, StoredBatch
from hub.fhir.consent import Consents
from hub.fhir.push.auth import PushAuth, PushAuthError, auth_for
from hub.fhir.push.bundle import Pick, push_bundle, take
from hub.fhir.push.outbox import Outbox, OutboxItem, OutboxRow
from hub.fhir.push.settings import FhirPushSettings, PushRecipient
from hub.fhir.push.transport import (
    HttpAnswer,
    PushTransport,
    TransportError,
    is_transaction_response,
    outcome_text,
)
from hub.registry.ownership import organisation_of_resident
from hub.store.base import StoredObservation, TimeSeriesStore
from schemas.models import Observation

__all__ = ["Outcome", "PushExporter", "Recipient"]

log = logging.getLogger(__name__)

TAKE = 500
"""Stored observations read from the store's feed at a time, per recipient."""

CONTENT_REFUSED = frozenset({400, 409, 412, 422})
"""Answers that say the Bundle itself is wrong: resending it unchanged cannot help."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one :meth:`PushExporter.push_once` did (for the loop, tests and the benchmark)."""

    sent: int = 0
    withheld: int = 0
    parked: int = 0
    failed: bool = False
    idle: bool = False


class Recipient:
    """One configured recipient with its credentials."""

    def __init__(self, settings: PushRecipient) -> None:
        self.settings = settings
        self.name = settings.name
        self.auth: PushAuth = auth_for(settings.auth, settings.name)
        self.actor = f"fhir-push:{settings.name}"


class PushExporter:
    def __init__(
        self,
        conn: Connection,
        settings: FhirPushSettings,
        transport: PushTransport,
        *,
        store: TimeSeriesStore | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """With ``store``, rows come from its feed (:meth:`take_stored`); without, only
        through :meth:`enqueue` (tools and tests)."""
        self._conn = conn
        self.settings = settings
        self.transport = transport
        self._clock = clock
        self._store = store
        self.outbox = Outbox(conn)
        self.consents = Consents(conn, clock)
        self.recipients = [Recipient(r) for r in settings.recipients]
        self._wake = asyncio.Event()
        if store is not None:
            for recipient in self.recipients:  # a new recipient starts at the newest
                if self.outbox.state(recipient.name).cursor is None:
                    self.outbox.take(recipient.name, [], store.last_stored(), clock())

    # -- queueing --------------------------------------------------------------------------

    async def listener(self, event: HubEvent) -> None:
        """The hub's post-commit listener: new observations are in the store, look now."""
        if isinstance(event, StoredBatch) and event.observations:
            self._wake.set()

    def take_stored(self, recipient: Recipient, limit: int = TAKE) -> int:
        """Queue the consented of the next ``limit`` stored observations after the recipient's
        cursor, and move the cursor past them (one transaction); how many were read."""
        if self._store is None:
            return 0
        cursor = self.outbox.state(recipient.name).cursor or 0
        page = self._store.stored_since(cursor, limit)
        if page:
            now = self._clock()
            wanted = self._wanted(recipient, [item for _, item in page], now, {})
            self.outbox.take(recipient.name, wanted, page[-1][0], now)
        return len(page)

    def enqueue(self, stored: Iterable[StoredObservation]) -> int:
        """Queue each observation for each recipient its resident consented to, without the
        store's feed (tools and tests); rows added."""
        now = self._clock()
        items = list(stored)
        added = 0
        orgs: dict[str, str | None] = {}
        for recipient in self.recipients:
            wanted = self._wanted(recipient, items, now, orgs)
            if wanted:
                added += self.outbox.enqueue(recipient.name, wanted, now)
        return added

    def _wanted(
        self,
        recipient: Recipient,
        stored: Sequence[StoredObservation],
        now: datetime,
        orgs: dict[str, str | None],
    ) -> list[OutboxItem]:
        """The outbox items of the observations whose resident consents to ``recipient``."""
        allowed: dict[str, bool] = {}
        wanted = []
        for item in stored:
            resident = item.resident_id
            if resident is None:
                continue
            if resident not in allowed:
                allowed[resident] = self._allowed(recipient, resident, now)
            if allowed[resident]:
                wanted.append(self._item(item, orgs))
        return wanted

    def _allowed(self, recipient: Recipient, resident_id: str, at: datetime) -> bool:
        r = recipient.settings
        return self.consents.allows(resident_id, r.organisation, r.purpose, at)

    def _item(self, stored: StoredObservation, orgs: dict[str, str | None]) -> OutboxItem:
        resident = str(stored.resident_id)
        if resident not in orgs:
            orgs[resident] = organisation_of_resident(self._conn, resident)
        return OutboxItem(
            observation_id=stored.id,
            effective_us=stored.effective_us,
            resident_id=resident,
            organisation=orgs[resident],
            observation=stored.observation.model_dump_json(by_alias=True, exclude_none=True),
        )

    # -- sending ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Push until cancelled: each recipient whose backoff has passed, as long as it has
        rows; then wait for new rows, the next due retry, or ``idle_s``."""
        while True:
            self._wake.clear()
            busy = False
            for recipient in self.recipients:
                try:
                    busy |= self.take_stored(recipient) > 0
                    outcome = await self.push_once(recipient)
                except (StoreError, sqlite3.Error) as exc:  # e.g. locked: the next round retries
                    log.warning("FHIR push to %s: the outbox: %s", recipient.name, exc)
                    continue
                busy |= not (outcome.idle or outcome.failed)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await wait_for(self._wake.wait(), self._pause())

    def _pause(self) -> float:
        now = self._clock()
        pause = self.settings.idle_s
        for recipient in self.recipients:
            try:
                due = self.outbox.state(recipient.name).next_attempt
            except sqlite3.Error:
                continue
            if due is not None:
                pause = min(pause, max(0.01, (due - now).total_seconds()))
        return pause

    async def push_once(self, recipient: Recipient) -> Outcome:
        """One Bundle to ``recipient`` (if it has rows and its backoff has passed)."""
        now = self._clock()
        state = self.outbox.state(recipient.name)
        if state.next_attempt is not None and now < state.next_attempt:
            return Outcome(idle=True)
        rows = self.outbox.due(recipient.name, recipient.settings.bundle_entries)
        rows, withheld = self._consented(recipient, rows, now)
        if not rows:
            return Outcome(withheld=withheld, idle=withheld == 0)
        picks = [
            (Observation.model_validate_json(r.item.observation), r.item.resident_id) for r in rows
        ]
        count = take(picks, recipient.settings.bundle_entries)
        rows, picks = rows[:count], picks[:count]
        try:
            answer = await self._send(recipient, picks)
        except (TransportError, PushAuthError) as exc:
            return self._failed(recipient, rows, str(exc), withheld)
        return await self._answered(recipient, rows, picks, answer, withheld)

    async def _send(self, recipient: Recipient, picks: Sequence[Pick]) -> HttpAnswer:
        authorization = await recipient.auth.authorization(self.transport)
        answer = await self.transport.post(
            str(recipient.settings.base_url).rstrip("/"),
            push_bundle(picks),
            {
                "Authorization": authorization,
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
            },
        )
        if answer.status == 401:
            recipient.auth.invalidate()
        return answer

    async def _answered(
        self,
        recipient: Recipient,
        rows: list[OutboxRow],
        picks: list[Pick],
        answer: HttpAnswer,
        withheld: int,
    ) -> Outcome:
        if answer.status == 200 and is_transaction_response(answer.body):
            self._delivered(recipient, rows)
            return Outcome(sent=len(rows), withheld=withheld)
        error = f"{answer.status} {outcome_text(answer.body)}"
        if answer.status not in CONTENT_REFUSED:
            return self._failed(recipient, rows, error, withheld)
        if len(rows) == 1:
            self._park(recipient, rows[0], error)
            return Outcome(parked=1, withheld=withheld)
        return await self._one_by_one(recipient, rows, picks, withheld)

    async def _one_by_one(
        self, recipient: Recipient, rows: list[OutboxRow], picks: list[Pick], withheld: int
    ) -> Outcome:
        """The recipient refused a Bundle of several rows: send each alone, park the bad."""
        sent = parked = 0
        for row, pick in zip(rows, picks, strict=True):
            try:
                answer = await self._send(recipient, [pick])
            except (TransportError, PushAuthError) as exc:
                self._failed(recipient, [row], str(exc), 0)
                return Outcome(sent=sent, parked=parked, withheld=withheld, failed=True)
            outcome = await self._answered(recipient, [row], [pick], answer, 0)
            if outcome.failed:
                return Outcome(sent=sent, parked=parked, withheld=withheld, failed=True)
            sent, parked = sent + outcome.sent, parked + outcome.parked
        return Outcome(sent=sent, parked=parked, withheld=withheld)

    # -- state changes (each audited) -------------------------------------------------------

    def _consented(
        self, recipient: Recipient, rows: list[OutboxRow], now: datetime
    ) -> tuple[list[OutboxRow], int]:
        allowed: dict[str, bool] = {}
        for row in rows:
            rid = row.item.resident_id
            if rid not in allowed:
                allowed[rid] = self._allowed(recipient, rid, now)
        refused = [r for r in rows if not allowed[r.item.resident_id]]
        if refused:
            with transaction(self._conn, operation="FHIR push withheld"):
                self.outbox.withhold(recipient.name, [r.seq for r in refused])
                by_resident = Counter(r.item.resident_id for r in refused)
                detail: dict[str, object] = {"observations": by_resident}
                self._audit(recipient, "fhir_push_withheld", refused, detail)
            log.info(
                "FHIR push to %s: %d rows withheld (no consent now)", recipient.name, len(refused)
            )
        return [r for r in rows if allowed[r.item.resident_id]], len(refused)

    def _delivered(self, recipient: Recipient, rows: list[OutboxRow]) -> None:
        with transaction(self._conn, operation="FHIR push delivered"):  # one commit for both
            ended = self.outbox.delivered(recipient.name, [r.seq for r in rows], self._clock())
            by_resident = Counter(r.item.resident_id for r in rows)
            self._audit(recipient, "fhir_push_sent", rows, {"observations": by_resident})
            if ended:
                self._audit(recipient, "fhir_push_recovered", [], {"failed_attempts": ended})
        if ended:
            log.info("FHIR push to %s works again after %d failed attempts", recipient.name, ended)

    def _failed(
        self, recipient: Recipient, rows: list[OutboxRow], error: str, withheld: int
    ) -> Outcome:
        now = self._clock()
        r = recipient.settings
        streak = self.outbox.state(recipient.name).consecutive_failures
        delay = min(r.backoff_max_s, r.backoff_initial_s * 2 ** min(streak, 30))
        retry_at = now + timedelta(seconds=delay)
        with transaction(self._conn, operation="FHIR push failed"):
            streak = self.outbox.failed(recipient.name, [x.seq for x in rows], now, error, retry_at)
            if streak == 1:
                self._audit(recipient, "fhir_push_failing", [], {"error": error[:500]})
        log.warning(
            "FHIR push to %s failed (%d in a row; next try in %.1f s): %s",
            recipient.name,
            streak,
            delay,
            error[:300],
        )
        return Outcome(withheld=withheld, failed=True)

    def _park(self, recipient: Recipient, row: OutboxRow, error: str) -> None:
        detail: dict[str, object] = {"observation": row.item.observation_id, "error": error[:1000]}
        with transaction(self._conn, operation="FHIR push parked"):
            self.outbox.park(recipient.name, row.seq, self._clock(), error)
            self._audit(recipient, "fhir_push_parked", [row], detail)
        log.error(
            "FHIR push to %s: observation %s refused: %s",
            recipient.name,
            row.item.observation_id,
            error[:300],
        )

    def _audit(
        self,
        recipient: Recipient,
        action: str,
        rows: Sequence[OutboxRow],
        detail: dict[str, object],
    ) -> None:
        record_admin_action(
            self._conn,
            time=self._clock(),
            actor=recipient.actor,
            organisation=None,
            action=action,
            target=f"fhir-push/{recipient.name}",
            detail={"recipient": recipient.settings.organisation, **detail},
            affected=(recipient.settings.organisation, *{r.item.organisation for r in rows}),
        )

    async def drain(self, until: Callable[[], bool] | None = None) -> None:
        """Push every recipient until its queue is empty or it fails (tools and tests)."""
        for recipient in self.recipients:
            while not (until and until()):
                taken = self.take_stored(recipient)
                outcome = await self.push_once(recipient)
                if outcome.failed or (outcome.idle and not taken):
                    break
