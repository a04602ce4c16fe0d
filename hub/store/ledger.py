"""Dead letters and counters, always in the hub's SQLite file (whatever the time-series store).

A dead letter keeps a refused or partly refused message as received (payload up to
``MAX_PAYLOAD_BYTES``; longer payloads are cut and marked), with its errors, so that an
operator can see exactly what a publisher sent and why it was refused.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hub.db import from_micros, migrate, to_micros
from schemas.models import MAX_PAYLOAD_BYTES, RejectionError

__all__ = ["DeadLetter", "Ledger"]

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


class Ledger:
    """Dead letters and monotonic counters; writes join the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        migrate(conn, "ledger", MIGRATIONS)

    def add_dead_letters(self, letters: Iterable[DeadLetter]) -> None:
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

    def dead_letters(self, publisher: str | None = None, limit: int = 100) -> list[DeadLetter]:
        rows = self._conn.execute(
            "SELECT received_us, transport, topic, publisher, message_id, accepted, rejected,"
            " errors_json, payload FROM dead_letter WHERE ? IS NULL OR publisher = ?"
            " ORDER BY id DESC LIMIT ?",
            (publisher, publisher, limit),
        )
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
                " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
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
