"""The push outbox: observations waiting for a recipient, and each recipient's state.

Two tables in the hub's database (migration component ``fhir_push``):

* ``fhir_push_outbox``: one row per (recipient, observation), the observation as the schema
  model's JSON, in arrival order (``seq``). A row leaves when the recipient confirmed it (the
  transaction answered 200), or when a consent no longer allows it (*withheld*, counted). A row
  the recipient refuses for its content (400/409/412/422) is *parked*: kept with the error for
  the operator, never resent by itself, and no longer in the way of the rows after it.
* ``fhir_push_state``: per recipient, what the metrics and the backoff need: observations
  sent, failed attempts, withheld and parked counts, consecutive failures and since when, when
  the next attempt is due, the last success and the last error; and its *cursor*, the number
  of the last stored observation it took from the store (:meth:`Outbox.take`).

Every method is one transaction; the row and the state change together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.db import Connection, from_micros, migrate, to_micros, transaction

__all__ = ["MIGRATIONS", "Outbox", "OutboxItem", "OutboxRow", "RecipientState"]

MIGRATIONS = [
    (
        "CREATE TABLE fhir_push_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " recipient TEXT NOT NULL, observation_id TEXT NOT NULL, effective_us INTEGER NOT NULL,"
        " resident_id TEXT NOT NULL, organisation TEXT, observation TEXT NOT NULL,"
        " enqueued_us INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " parked_us INTEGER, error TEXT,"
        " UNIQUE (recipient, observation_id, effective_us))"
    ),
    "CREATE INDEX fhir_push_outbox_due ON fhir_push_outbox (recipient, parked_us, seq)",
    (
        "CREATE TABLE fhir_push_state (recipient TEXT PRIMARY KEY,"
        " sent INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,"
        " withheld INTEGER NOT NULL DEFAULT 0, parked INTEGER NOT NULL DEFAULT 0,"
        " consecutive_failures INTEGER NOT NULL DEFAULT 0, next_attempt_us INTEGER,"
        " last_success_us INTEGER, last_failure_us INTEGER, last_error TEXT)"
    ),
    # Version 4: the recipient's place in the store's numbered feed (TimeSeriesStore.
    # stored_since): moved on in the transaction that queues what it took.
    "ALTER TABLE fhir_push_state ADD COLUMN stored_cursor INTEGER",
    # Version 5: when the current run of failed attempts began.
    "ALTER TABLE fhir_push_state ADD COLUMN failing_since_us INTEGER",
]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """What the exporter queues: one observation for one recipient."""

    observation_id: str
    effective_us: int
    resident_id: str
    organisation: str | None
    """The resident's organisation (audit entries are filed under it)."""
    observation: str
    """The schema model's JSON (schemas.models.Observation)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    item: OutboxItem
    attempts: int


@dataclass(frozen=True, slots=True)
class RecipientState:
    recipient: str
    queued: int
    parked_rows: int
    sent: int
    failures: int
    withheld: int
    consecutive_failures: int
    next_attempt: datetime | None
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str | None
    failing_since: datetime | None = None
    cursor: int | None = None
    """The number of the last stored observation taken (None: not started)."""


def _when(micros: object) -> datetime | None:
    return None if micros is None else from_micros(int(str(micros)))


class Outbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        migrate(conn, "fhir_push", MIGRATIONS)

    def enqueue(self, recipient: str, items: Iterable[OutboxItem], now: datetime) -> int:
        """Queue the items not queued before for ``recipient``; how many were new."""
        rows = [
            (
                recipient,
                i.observation_id,
                i.effective_us,
                i.resident_id,
                i.organisation,
                i.observation,
                to_micros(now),
            )
            for i in items
        ]
        with transaction(self._conn, operation="queue FHIR push"):
            return self._conn.executemany(
                "INSERT OR IGNORE INTO fhir_push_outbox (recipient, observation_id,"
                " effective_us, resident_id, organisation, observation, enqueued_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            ).rowcount

    def take(self, recipient: str, items: Iterable[OutboxItem], cursor: int, now: datetime) -> int:
        """Queue ``items`` and move the recipient's cursor to ``cursor``, in one transaction
        (a crash leaves both as they were: the store's feed is read again from the old
        cursor). How many rows were new."""
        with transaction(self._conn, operation="queue FHIR push"):
            added = self.enqueue(recipient, items, now)
            self._ensure(recipient)
            self._conn.execute(
                "UPDATE fhir_push_state SET stored_cursor = ? WHERE recipient = ?",
                (cursor, recipient),
            )
        return added

    def due(self, recipient: str, limit: int) -> list[OutboxRow]:
        """The oldest ``limit`` rows not parked, in arrival order."""
        rows = self._conn.execute(
            "SELECT seq, observation_id, effective_us, resident_id, organisation, observation,"
            " attempts FROM fhir_push_outbox WHERE recipient = ? AND parked_us IS NULL"
            " ORDER BY seq LIMIT ?",
            (recipient, limit),
        )
        return [
            OutboxRow(
                int(seq), OutboxItem(str(oid), int(eff), str(rid), org, str(body)), int(attempts)
            )
            for seq, oid, eff, rid, org, body, attempts in rows
        ]

    def delivered(self, recipient: str, seqs: Sequence[int], now: datetime) -> int:
        """The recipient confirmed these rows: drop them; returns the failures it ended."""
        with transaction(self._conn, operation="FHIR push delivered"):
            self._delete(seqs)
            self._ensure(recipient)
            ended = self._state(recipient).consecutive_failures
            self._conn.execute(
                "UPDATE fhir_push_state SET sent = sent + ?, consecutive_failures = 0,"
                " failing_since_us = NULL, next_attempt_us = NULL, last_success_us = ?"
                " WHERE recipient = ?",
                (len(seqs), to_micros(now), recipient),
            )
        return ended

    def failed(
        self,
        recipient: str,
        seqs: Sequence[int],
        now: datetime,
        error: str,
        retry_at: datetime,
    ) -> int:
        """An attempt failed (the rows stay); returns the consecutive failures now."""
        with transaction(self._conn, operation="FHIR push failed"):
            self._bump_attempts(seqs)
            self._ensure(recipient)
            self._conn.execute(
                "UPDATE fhir_push_state SET failures = failures + 1,"
                " consecutive_failures = consecutive_failures + 1, next_attempt_us = ?,"
                " failing_since_us = COALESCE(failing_since_us, ?),"
                " last_failure_us = ?, last_error = ? WHERE recipient = ?",
                (to_micros(retry_at), to_micros(now), to_micros(now), error[:2000], recipient),
            )
            return self._state(recipient).consecutive_failures

    def park(self, recipient: str, seq: int, now: datetime, error: str) -> None:
        """The recipient refused this row for its content: keep it aside with the error."""
        with transaction(self._conn, operation="FHIR push parked"):
            self._bump_attempts([seq])
            self._conn.execute(
                "UPDATE fhir_push_outbox SET parked_us = ?, error = ? WHERE seq = ?",
                (to_micros(now), error[:4000], seq),
            )
            self._ensure(recipient)
            self._conn.execute(
                "UPDATE fhir_push_state SET parked = parked + 1, last_error = ?"
                " WHERE recipient = ?",
                (error[:2000], recipient),
            )

    def withhold(self, recipient: str, seqs: Sequence[int]) -> None:
        """No consent allows these rows any longer: drop them unsent (counted)."""
        with transaction(self._conn, operation="FHIR push withheld"):
            self._delete(seqs)
            self._ensure(recipient)
            self._conn.execute(
                "UPDATE fhir_push_state SET withheld = withheld + ? WHERE recipient = ?",
                (len(seqs), recipient),
            )

    def state(self, recipient: str) -> RecipientState:
        """The recipient's queue and counters (reads only; for the metrics and tests)."""
        return self._state(recipient)

    def parked(
        self, recipient: str, organisation: str | None = None
    ) -> list[tuple[OutboxRow, str]]:
        """The parked rows with the recipient's answer, oldest first (with ``organisation``:
        only its residents')."""
        rows = self._conn.execute(
            "SELECT seq, observation_id, effective_us, resident_id, organisation, observation,"
            " attempts, error FROM fhir_push_outbox WHERE recipient = ?"
            " AND parked_us IS NOT NULL AND (CAST(? AS TEXT) IS NULL OR organisation = ?)"
            " ORDER BY seq",
            (recipient, organisation, organisation),
        )
        return [
            (OutboxRow(int(s), OutboxItem(str(o), int(e), str(r), g, str(b)), int(a)), str(err))
            for s, o, e, r, g, b, a, err in rows
        ]

    def retry(self, recipient: str, seqs: Sequence[int]) -> None:
        """Send again now: the backoff ends, and the parked rows ``seqs`` (if any) are queued
        again in their place (their attempts counted from zero)."""
        with transaction(self._conn, operation="FHIR push retry"):
            self._conn.executemany(
                "UPDATE fhir_push_outbox SET parked_us = NULL, error = NULL, attempts = 0"
                " WHERE seq = ? AND recipient = ? AND parked_us IS NOT NULL",
                [(s, recipient) for s in seqs],
            )
            self._ensure(recipient)
            self._conn.execute(
                "UPDATE fhir_push_state SET next_attempt_us = NULL WHERE recipient = ?",
                (recipient,),
            )

    def queued_of(self, recipient: str, organisation: str) -> int:
        """Rows waiting for ``recipient`` of ``organisation``'s residents."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM fhir_push_outbox WHERE recipient = ? AND organisation = ?"
            " AND parked_us IS NULL",
            (recipient, organisation),
        ).fetchone()
        return int(row[0])

    # -- inside a transaction ----------------------------------------------------------------

    def _delete(self, seqs: Sequence[int]) -> None:
        self._conn.executemany("DELETE FROM fhir_push_outbox WHERE seq = ?", [(s,) for s in seqs])

    def _bump_attempts(self, seqs: Sequence[int]) -> None:
        self._conn.executemany(
            "UPDATE fhir_push_outbox SET attempts = attempts + 1 WHERE seq = ?",
            [(s,) for s in seqs],
        )

    def _ensure(self, recipient: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO fhir_push_state (recipient) VALUES (?)", (recipient,)
        )

    def _state(self, recipient: str) -> RecipientState:
        queued, parked = self._conn.execute(
            "SELECT COUNT(*) FILTER (WHERE parked_us IS NULL),"
            " COUNT(*) FILTER (WHERE parked_us IS NOT NULL)"
            " FROM fhir_push_outbox WHERE recipient = ?",
            (recipient,),
        ).fetchone()
        row = self._conn.execute(
            "SELECT sent, failures, withheld, consecutive_failures, next_attempt_us,"
            " last_success_us, last_failure_us, last_error, failing_since_us, stored_cursor"
            " FROM fhir_push_state WHERE recipient = ?",
            (recipient,),
        ).fetchone() or (0, 0, 0, 0, None, None, None, None, None, None)
        sent, failures, withheld, consecutive, next_us, success_us, failure_us, error = row[:8]
        return RecipientState(
            recipient=recipient,
            queued=int(queued),
            parked_rows=int(parked),
            sent=int(sent),
            failures=int(failures),
            withheld=int(withheld),
            consecutive_failures=int(consecutive),
            next_attempt=_when(next_us),
            last_success=_when(success_us),
            last_failure=_when(failure_us),
            last_error=None if error is None else str(error),
            failing_since=_when(row[8]),
            cursor=None if row[9] is None else int(row[9]),
        )
