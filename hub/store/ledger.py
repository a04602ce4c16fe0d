"""Dead letters and counters, in the hub database (SQLite, or PostgreSQL with ``store.kind =
"postgresql"``), beside the registry, whatever the time-series store.

A dead letter keeps a refused or partly refused message as received (payload up to
``MAX_PAYLOAD_BYTES``; longer payloads are cut and marked), with its errors, so that an
operator can see exactly what a publisher sent and why it was refused.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.db import Connection, from_micros, migrate, to_micros
from schemas.models import MAX_PAYLOAD_BYTES, RejectionError

__all__ = ["REASONS", "REJECTION_COUNTER", "DeadLetter", "Ledger", "reason_of"]

REASONS = (
    "topic",
    "too_large",
    "malformed",
    "publisher_mismatch",
    "unbound_device",
    "schema",
)
"""Why a message was refused, as a small fixed set (a metrics label): see :func:`reason_of`."""

REJECTION_COUNTER = "rejected|"
"""Prefix of the counters ``rejected|<reason>|<publisher>`` (one per refused message)."""

MIGRATIONS = [
    (
        "CREATE TABLE dead_letter (id INTEGER PRIMARY KEY, received_us INTEGER NOT NULL,"
        " transport TEXT NOT NULL, topic TEXT NOT NULL, publisher TEXT, message_id TEXT,"
        " accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, errors_json TEXT NOT NULL,"
        " payload BLOB NOT NULL, truncated INTEGER NOT NULL)"
    ),
    "CREATE INDEX dead_letter_publisher ON dead_letter (publisher, received_us)",
    "CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received: datetime
    transport: str
    topic: str
    publisher: str | None
    message_id: str | None
    accepted: int
    rejected: int
    errors: tuple[RejectionError, ...]
    payload: bytes


def reason_of(errors: Sequence[RejectionError]) -> str:
    """The class of a refusal, one of :data:`REASONS`, from its first error."""
    if not errors:
        return "schema"
    first = errors[0]
    if first.path == "topic":
        return "topic"
    if first.path == "$":
        return "too_large" if "bytes; at most" in first.reason else "malformed"
    if "does not match the sender" in first.reason:
        return "publisher_mismatch"
    if "is not bound to publisher" in first.reason:
        return "unbound_device"
    return "schema"


class Ledger:
    """Dead letters and monotonic counters; writes join the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        migrate(conn, "ledger", MIGRATIONS)

    def add_dead_letters(self, letters: Iterable[DeadLetter]) -> None:
        letters = list(letters)
        rows = [
            (
                to_micros(d.received),
                d.transport,
                d.topic,
                d.publisher,
                d.message_id,
                d.accepted,
                d.rejected,
                json.dumps([e.model_dump(exclude_none=True) for e in d.errors]),
                d.payload[:MAX_PAYLOAD_BYTES],
                int(len(d.payload) > MAX_PAYLOAD_BYTES),
            )
            for d in letters
        ]
        if rows:
            self._conn.executemany(
                "INSERT INTO dead_letter (received_us, transport, topic, publisher, message_id,"
                " accepted, rejected, errors_json, payload, truncated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            reasons = Counter(
                f"{REJECTION_COUNTER}{reason_of(d.errors)}|{d.publisher or ''}" for d in letters
            )
            self.bump(reasons)

    def dead_letters(
        self,
        publisher: str | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
        publishers: Collection[str] | None = None,
    ) -> list[DeadLetter]:
        """The newest dead letters first, of ``publisher`` and of ``publishers`` (None: any),
        received at or after ``since``."""
        where = "(? IS NULL OR publisher = ?) AND received_us >= ?"
        params: list[object] = [publisher, publisher, to_micros(since) if since else 0]
        if publishers is not None:
            where += f" AND publisher IN ({','.join('?' * len(publishers))})"
            params += list(publishers)
        columns = (
            "received_us, transport, topic, publisher, message_id, accepted, rejected,"
            " errors_json, payload"
        )
        query = f"SELECT {columns} FROM dead_letter WHERE {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 - placeholders only
        rows = self._conn.execute(query, [*params, limit])
        return [
            DeadLetter(
                from_micros(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                tuple(RejectionError.model_validate(e) for e in json.loads(r[7])),
                bytes(r[8]),
            )
            for r in rows
        ]

    def bump(self, counts: Mapping[str, int]) -> None:
        rows = [(name, value) for name, value in counts.items() if value]
        if rows:
            self._conn.executemany(
                "INSERT INTO counter (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = counter.value + excluded.value",
                rows,
            )

    def counters(self) -> dict[str, int]:
        return {str(n): int(v) for n, v in self._conn.execute("SELECT name, value FROM counter")}

    def delete_before(self, cutoff: datetime) -> int:
        return int(
            self._conn.execute(
                "DELETE FROM dead_letter WHERE received_us < ?", (to_micros(cutoff),)
            ).rowcount
        )
