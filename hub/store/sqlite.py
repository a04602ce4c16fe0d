"""The embedded default store: SQLite in WAL mode, in the hub's database file.

Tables (component ``store``):

* ``observation`` — every accepted observation once (unique on effective time, id and
  publisher, see :class:`~hub.store.base.TimeSeriesStore`), with the resolved resident, its
  own numeric value (a boolean as 0/1) and unit, and where its full JSON is (as received),
  so nothing is lost to a column choice;
* ``sample`` — the numeric components of compound observations (blood pressure), and the
  values stored before the observation row kept them; charts read both;
* ``rollup`` — count/sum/min/max per 5-minute and 1-hour bucket, maintained at write time
  from newly stored samples only (so redeliveries never count twice).

Retention deletes raw observations and samples after ``raw_days`` and roll-ups after
``rollup_days``; charts over long ranges read the roll-ups.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hub.config import RetentionSettings
from hub.db import from_micros, insert_rows, migrate, to_micros, transaction
from hub.errors import StoreError
from hub.ingest.payloads import inflate, stored_form
from hub.store.base import Sample, StoredObservation, TimeSeriesStore
from hub.store.sql_reads import (
    OBSERVATIONS_SQL,
    SqlSeries,
    decode_observations,
    subject,
)
from hub.store.sqlite_rows import (
    SampleRow,
    component_rows,
    observation_row,
    rollup_rows,
    value_row,
)

__all__ = ["SqliteStore"]

MIGRATIONS = [
    (
        "CREATE TABLE message (id INTEGER PRIMARY KEY, publisher TEXT NOT NULL,"
        " received_us INTEGER NOT NULL, payload BLOB NOT NULL)"
    ),
    (
        "CREATE TABLE observation (id TEXT NOT NULL UNIQUE, publisher TEXT NOT NULL,"
        " device_id TEXT NOT NULL, resident_id TEXT, system TEXT NOT NULL, code TEXT NOT NULL,"
        " effective_us INTEGER NOT NULL, received_us INTEGER NOT NULL, message INTEGER,"
        " position INTEGER, json TEXT, CHECK (message IS NOT NULL OR json IS NOT NULL))"
    ),
    "CREATE INDEX observation_resident ON observation (resident_id, code, effective_us)",
    "CREATE INDEX observation_device ON observation (device_id, effective_us)",
    (
        "CREATE TABLE sample (resident_id TEXT NOT NULL, device_id TEXT NOT NULL,"
        " code TEXT NOT NULL, t_us INTEGER NOT NULL, value REAL NOT NULL, unit TEXT,"
        " observation_id TEXT NOT NULL)"
    ),
    "CREATE INDEX sample_resident ON sample (resident_id, code, t_us)",
    "CREATE INDEX sample_device ON sample (device_id, code, t_us)",
    (
        "CREATE TABLE rollup (width_s INTEGER NOT NULL, resident_id TEXT NOT NULL,"
        " device_id TEXT NOT NULL, code TEXT NOT NULL, bucket_us INTEGER NOT NULL,"
        " n INTEGER NOT NULL, total REAL NOT NULL, minimum REAL NOT NULL, maximum REAL NOT NULL,"
        " PRIMARY KEY (width_s, resident_id, code, bucket_us, device_id)) WITHOUT ROWID"
    ),
    "CREATE INDEX rollup_device ON rollup (width_s, device_id, code, bucket_us)",
    # Version 10: deduplicate on (effective time, id). An index on the random ids alone puts
    # every insert on another page, so each commit rewrote most of that index into the WAL
    # (94 us per observation at 300,000 stored, against 26 us with time first).
    (
        "CREATE TABLE observation_v2 (id TEXT NOT NULL, publisher TEXT NOT NULL,"
        " device_id TEXT NOT NULL, resident_id TEXT, system TEXT NOT NULL, code TEXT NOT NULL,"
        " effective_us INTEGER NOT NULL, received_us INTEGER NOT NULL, message INTEGER,"
        " position INTEGER, json TEXT, CHECK (message IS NOT NULL OR json IS NOT NULL),"
        " UNIQUE (effective_us, id))"
    ),
    (
        "INSERT INTO observation_v2 (rowid, id, publisher, device_id, resident_id, system, code,"
        " effective_us, received_us, message, position, json) SELECT rowid, id, publisher,"
        " device_id, resident_id, system, code, effective_us, received_us, message, position,"
        " json FROM observation"
    ),
    "DROP TABLE observation",
    "ALTER TABLE observation_v2 RENAME TO observation",
    "CREATE INDEX observation_resident ON observation (resident_id, code, effective_us)",
    "CREATE INDEX observation_device ON observation (device_id, effective_us)",
    # Version 16: an observation's own numeric value lives in its row (one insert instead of
    # two); the sample table keeps the components of compound observations (and the values
    # stored before this version). Queries read both.
    "ALTER TABLE observation ADD COLUMN value REAL",
    "ALTER TABLE observation ADD COLUMN unit TEXT",
    "DROP INDEX observation_device",
    "CREATE INDEX observation_device ON observation (device_id, code, effective_us)",
    # Version 20: message payloads are stored deflated (zlib level 1). JSON batches shrink to
    # about a thirteenth, which cut the SQLite work per observation (WAL and checkpoint
    # bytes) by more than compressing costs, and SD cards see far fewer writes. NULL: as
    # received (rows stored before this version).
    "ALTER TABLE message ADD COLUMN encoding TEXT CHECK (encoding IN ('zlib'))",
    # Version 21: the publisher is part of an observation's identity (see hub.store.base):
    # ids derive from public inputs, and without it one sender could pre-empt another's.
    (
        "CREATE TABLE observation_v3 (id TEXT NOT NULL, publisher TEXT NOT NULL,"
        " device_id TEXT NOT NULL, resident_id TEXT, system TEXT NOT NULL, code TEXT NOT NULL,"
        " effective_us INTEGER NOT NULL, received_us INTEGER NOT NULL, message INTEGER,"
        " position INTEGER, json TEXT, value REAL, unit TEXT,"
        " CHECK (message IS NOT NULL OR json IS NOT NULL), UNIQUE (effective_us, id, publisher))"
    ),
    (
        "INSERT INTO observation_v3 (rowid, id, publisher, device_id, resident_id, system, code,"
        " effective_us, received_us, message, position, json, value, unit) SELECT rowid, id,"
        " publisher, device_id, resident_id, system, code, effective_us, received_us, message,"
        " position, json, value, unit FROM observation"
    ),
    "DROP TABLE observation",
    "ALTER TABLE observation_v3 RENAME TO observation",
    "CREATE INDEX observation_resident ON observation (resident_id, code, effective_us)",
    "CREATE INDEX observation_device ON observation (device_id, code, effective_us)",
    # Version 27: one resident's readings in time order, for the FHIR search's keyset pages
    # (hub.store.pages): each page is one range scan of this index instead of sorting all of
    # the resident's rows (across codes) for every page.
    "CREATE INDEX observation_resident_time ON observation (resident_id, effective_us)",
]


def _inflate(stored: bytes, encoding: str | None) -> bytes:
    try:
        return inflate(stored, encoding)
    except ValueError as exc:
        raise StoreError("sqlite", "read", str(exc)) from exc


class SqliteStore(SqlSeries, TimeSeriesStore):
    """Observations, samples and roll-ups in the hub's SQLite database."""

    kind = "sqlite"

    def __init__(
        self, conn: sqlite3.Connection, retention: RetentionSettings | None = None
    ) -> None:
        self._conn = conn
        self._retention = retention or RetentionSettings()
        migrate(conn, "store", MIGRATIONS)

    def write_new(self, items: Sequence[StoredObservation]) -> list[StoredObservation]:
        unique = list({item.key: item for item in reversed(items)}.values())[::-1]
        if not unique:
            return []
        try:
            with transaction(self._conn):
                return self._insert(unique)
        except sqlite3.Error as exc:
            raise StoreError("sqlite", "write", str(exc)) from exc

    def _max_rowid(self, table: str) -> int:
        row = self._conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()  # noqa: S608
        return int(row[0])

    def _insert(self, unique: list[StoredObservation]) -> list[StoredObservation]:
        first_message = self._max_rowid("message")
        before = self._max_rowid("observation")
        messages: dict[int, int] = {}
        message_rows: list[tuple[int, str, int, bytes, str | None]] = []
        rows: list[tuple[object, ...]] = []
        values: list[SampleRow] = []  # every numeric value, for the roll-ups
        components: list[SampleRow] = []  # the sample table's share
        value_keys: list[tuple[int, str, str]] = []  # the key of each value's observation
        component_keys: list[tuple[int, str, str]] = []
        received: dict[datetime, int] = {}
        for item in unique:
            message_row, text = None, None
            received_us = received.get(item.received)
            if received_us is None:
                received_us = received[item.received] = to_micros(item.received)
            if item.payload is not None:
                message_row = messages.get(id(item.payload))
                if message_row is None:  # explicit ids: this transaction is the only writer
                    message_row = first_message + len(message_rows) + 1
                    messages[id(item.payload)] = message_row
                    message_rows.append(
                        (
                            message_row,
                            item.publisher,
                            received_us,
                            *(item.stored_payload or stored_form(item.payload)),
                        )
                    )
            else:
                text = item.observation.model_dump_json(by_alias=True, exclude_none=True)
            row = observation_row(item, message_row, text, received_us)
            rows.append(row)
            own = value_row(item, row)
            if own is not None:
                values.append(own)
                value_keys.append(item.key)
            elif item.reading.components:
                parts = component_rows(item)
                components += parts
                values += parts
                value_keys += [item.key] * len(parts)
                component_keys += [item.key] * len(parts)
        self._conn.executemany(
            "INSERT INTO message (id, publisher, received_us, payload, encoding)"
            " VALUES (?, ?, ?, ?, ?)",
            message_rows,
        )
        inserted = insert_rows(
            self._conn,
            "INSERT OR IGNORE INTO observation (id, publisher, device_id, resident_id, system,"
            " code, effective_us, received_us, message, position, json, value, unit)",
            13,
            rows,
        )
        new = unique
        if inserted != len(unique):
            mine = set(
                self._conn.execute(
                    "SELECT effective_us, id, publisher FROM observation WHERE rowid > ?",
                    (before,),
                )
            )
            new = [item for item in unique if item.key in mine]
            values = [s for s, key in zip(values, value_keys, strict=True) if key in mine]
            components = [
                s for s, key in zip(components, component_keys, strict=True) if key in mine
            ]
            self._conn.execute(
                "DELETE FROM message WHERE id > ? AND id NOT IN"
                " (SELECT message FROM observation WHERE rowid > ? AND message IS NOT NULL)",
                (first_message, before),
            )
        self._write_samples(components, values)
        return new

    def _write_samples(self, components: list[SampleRow], values: list[SampleRow]) -> None:
        if components:
            self._conn.executemany(
                "INSERT INTO sample (resident_id, device_id, code, t_us, value, unit,"
                " observation_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                components,
            )
        if values:
            self._conn.executemany(
                "INSERT INTO rollup (width_s, resident_id, code, bucket_us, device_id, n, total,"
                " minimum, maximum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET n = n + excluded.n, total = total + excluded.total,"
                " minimum = min(minimum, excluded.minimum),"
                " maximum = max(maximum, excluded.maximum)",
                rollup_rows(values),
            )

    def _select(self, sql: str, params: Sequence[object]) -> Iterable[Any]:
        return self._conn.execute(sql, params)

    def latest(self, resident_id: str) -> dict[str, Sample]:
        rows = self._conn.execute(
            "SELECT code, MAX(t_us), value, unit, observation_id, device_id FROM ("
            "SELECT effective_us AS t_us, value, unit, code, id AS observation_id, device_id"
            " FROM observation WHERE resident_id = ? AND value IS NOT NULL"
            " UNION ALL SELECT t_us, value, unit, code, observation_id, device_id FROM sample"
            " WHERE resident_id = ?) GROUP BY code",
            (resident_id, resident_id),
        )
        return {c: Sample(from_micros(t), v, u, c, o, d, resident_id) for c, t, v, u, o, d in rows}

    def observations(
        self,
        *,
        start: datetime,
        end: datetime,
        resident_id: str | None = None,
        device_id: str | None = None,
        code: str | None = None,
    ) -> list[StoredObservation]:
        """Full observations (as received) in ``[start, end)``, by effective time."""
        column, value = subject(resident_id, device_id)
        rows = self._conn.execute(
            OBSERVATIONS_SQL.format(join="m.id = o.message", column=column),
            (value, code, code, to_micros(start), to_micros(end)),
        )
        return decode_observations(rows, _inflate)

    def stored_since(self, cursor: int, limit: int) -> list[tuple[int, StoredObservation]]:
        """Numbered by rowid: one writer at a time takes MAX(rowid) + 1, so rowids grow in
        commit order; retention keeps the newest row, so none is ever given out again."""
        rows = self._conn.execute(
            "SELECT o.json, o.message, m.payload, m.encoding, o.position, o.publisher,"
            " o.resident_id, o.received_us, o.rowid FROM observation o"
            " LEFT JOIN message m ON m.id = o.message WHERE o.rowid > ? ORDER BY o.rowid LIMIT ?",
            (cursor, limit),
        ).fetchall()
        items = decode_observations((r[:8] for r in rows), _inflate)
        return [(int(r[8]), item) for r, item in zip(rows, items, strict=True)]

    def last_stored(self) -> int:
        return self._max_rowid("observation")

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0])

    def ids(self) -> list[str]:
        """All stored observation ids (tests and audits)."""
        return [str(r[0]) for r in self._conn.execute("SELECT id FROM observation")]

    def apply_retention(self, now: datetime) -> int:
        raw_cut = to_micros(now - timedelta(days=self._retention.raw_days))
        roll_cut = to_micros(now - timedelta(days=self._retention.rollup_days))
        with transaction(self._conn):
            deleted = self._conn.execute(  # the newest row stays: its rowid is never reused
                "DELETE FROM observation WHERE effective_us < ?"
                " AND rowid < (SELECT MAX(rowid) FROM observation)",
                (raw_cut,),
            ).rowcount
            deleted += self._conn.execute("DELETE FROM sample WHERE t_us < ?", (raw_cut,)).rowcount
            deleted += self._conn.execute(
                "DELETE FROM rollup WHERE bucket_us < ?", (roll_cut,)
            ).rowcount
            self._conn.execute(
                "DELETE FROM message WHERE id NOT IN"
                " (SELECT message FROM observation WHERE message IS NOT NULL)"
            )
        return int(deleted)
