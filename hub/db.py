"""The hub's SQLite file: opening it (WAL, foreign keys, busy timeout) and migrations.

Every component (registry, store, alerts, auth, ...) keeps its tables in the same file and
owns its own migration list::

    migrate(conn, "alerts", [
        "CREATE TABLE alert (...)",          # version 1
        "ALTER TABLE alert ADD COLUMN ...",  # version 2
    ])

Statements are applied in order, each once, recorded in ``schema_migrations`` by component
name and version (1-based index). Never edit or reorder a released statement; append.

One seam for both engines: components take a :class:`Connection` — a ``sqlite3.Connection``
from :func:`open_db`, or with ``store.kind = "postgresql"`` the hub's PostgreSQL connection
(:class:`hub.store.postgresql_conn.PgConnection`), which speaks the same SQL (placeholders
and the few dialect differences are translated there, in one place) and raises the same
DB-API exception classes (``sqlite3.IntegrityError``, ``sqlite3.OperationalError``).
:func:`migrate` and :func:`transaction` work on either; the migration history is shared
(the same statement is the same version on both engines; a statement that must differ is a
:class:`Dialects` pair).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from foundation.sqlite import transaction as _transaction
from hub.errors import StoreError

__all__ = [
    "Connection",
    "Cursor",
    "Dialects",
    "append_only",
    "dialect",
    "from_micros",
    "migrate",
    "open_db",
    "to_micros",
    "transaction",
]


class Cursor(Protocol):
    """A statement's result: rows as tuples."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The hub database as its components use it (see the module doc): autocommit, ``?``
    placeholders, explicit transactions through :func:`transaction`."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def close(self) -> None: ...


@runtime_checkable
class _Migrating(Protocol):
    """A connection that migrates itself (the PostgreSQL one)."""

    dialect: str

    def migrate(self, component: str, statements: Sequence[str | Dialects]) -> int: ...


class Dialects(NamedTuple):
    """One migration version whose statement differs between the engines."""

    sqlite: str
    postgresql: str


_APPEND_ONLY_FUNCTION = (
    "CREATE OR REPLACE FUNCTION hjem_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME"
    " USING ERRCODE = 'restrict_violation'; END $$"
)


def append_only(table: str) -> tuple[Dialects, Dialects]:
    """Two migration versions that make ``table`` append-only in the database itself.

    SQLite: a trigger refusing UPDATE, then one refusing DELETE. PostgreSQL: triggers
    refusing UPDATE, then DELETE and TRUNCATE (a superuser meets them too), and UPDATE,
    DELETE and TRUNCATE revoked from every role, the hub's own included (it owns the tables
    and runs the migrations; afterwards it may only append)."""

    def sqlite(event: str) -> str:
        return (
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}"
            f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )

    def postgresql(event: str) -> str:
        each = "STATEMENT" if event == "TRUNCATE" else "ROW"
        return (
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}"
            f" FOR EACH {each} EXECUTE FUNCTION hjem_append_only()"
        )

    return (
        Dialects(sqlite("UPDATE"), f"{_APPEND_ONLY_FUNCTION}; {postgresql('UPDATE')}"),
        Dialects(
            sqlite("DELETE"),
            f"{postgresql('DELETE')}; {postgresql('TRUNCATE')};"
            f" REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC, CURRENT_USER",
        ),
    )


def dialect(conn: Connection) -> str:
    """``sqlite`` or ``postgresql``: the engine behind ``conn``."""
    if isinstance(conn, sqlite3.Connection) or not isinstance(conn, _Migrating):
        return "sqlite"
    return conn.dialect


BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another connection's write lock (tools, admin commands)."""
HUB_BUSY_TIMEOUT_MS = 250
"""The running hub's wait: its statements run in the event loop, so a lock held elsewhere
may block the loop (and the dashboard) only this long per attempt; ingest then retries with
backoff (:mod:`hub.store.health`)."""
CACHE_KIB = 32_768
"""Page cache per connection (allocated as used), so the hot index pages stay in memory."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """UTC microseconds since the epoch, the hub's stored time form (exact, sortable)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give a UTC offset")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def open_db(
    path: Path | str,
    *,
    synchronous: Literal["full", "normal"] = "full",
    check_same_thread: bool = False,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> sqlite3.Connection:
    """Open (creating if needed) the hub database in WAL mode with foreign keys on.

    The connection is in autocommit mode; use :func:`transaction` for atomic groups.
    ``check_same_thread`` is off so that one owner can hand work to a worker thread; the
    owner must serialise access. ``busy_timeout_ms``: how long a statement waits for a lock
    held by another connection before it fails with "database is locked".
    """
    try:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path),
            isolation_level=None,
            check_same_thread=check_same_thread,
            timeout=busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError("sqlite", f"open {path}", str(exc)) from exc
    return conn


_CHUNKS = (256, 32, 4, 1)
"""Rows per INSERT statement: a few fixed sizes, so that each statement is prepared once."""


def insert_rows(
    conn: sqlite3.Connection, head: str, width: int, rows: Sequence[Sequence[object]]
) -> int:
    """Run ``head VALUES (...), (...), ...`` over ``rows`` of ``width`` values; rows inserted.

    One statement per up to 256 rows instead of one step per row (``executemany``): SQLite
    loops over the rows inside one step, and the module binds them in one call. Measured on
    the observation table: 11.4 against 15.7 µs per row. The chunk sizes are fixed (256, 32,
    4, 1 rows), so the statements stay in the module's statement cache; with 13 columns the
    largest binds 3,328 parameters (SQLite allows 32,766).
    """
    one = "(" + ", ".join(["?"] * width) + ")"
    done = inserted = 0
    for size in _CHUNKS:
        if len(rows) - done < size:
            continue
        sql = f"{head} VALUES {', '.join([one] * size)}"
        while len(rows) - done >= size:
            params = list(itertools.chain.from_iterable(rows[done : done + size]))
            inserted += conn.execute(sql, params).rowcount
            done += size
    return inserted


@contextlib.contextmanager
def transaction(
    conn: Connection, *, immediate: bool = True, operation: str | None = None
) -> Iterator[None]:
    """BEGIN (IMMEDIATE) ... COMMIT, or ROLLBACK on error (:func:`foundation.sqlite.transaction`).

    With ``operation``, every sqlite3.Error raised by BEGIN, the body or COMMIT becomes a
    :class:`~hub.errors.StoreError` naming that operation.
    """
    wrap = None if operation is None else functools.partial(_store_error, dialect(conn), operation)
    with _transaction(conn, immediate=immediate, wrap=wrap):
        yield


def _store_error(backend: str, operation: str, exc: sqlite3.Error) -> StoreError:
    return StoreError(backend, operation, str(exc))


def migrate(conn: Connection, component: str, statements: Sequence[str | Dialects]) -> int:
    """Apply the not yet applied ``statements`` of ``component``; return its schema version."""
    if not isinstance(conn, sqlite3.Connection) and isinstance(conn, _Migrating):
        return conn.migrate(component, statements)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
        " PRIMARY KEY (component, version))"
    )
    with transaction(conn):
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?",
            (component,),
        ).fetchone()
        current = int(row[0])
        if current > len(statements):
            raise StoreError(
                "sqlite",
                f"migrate {component}",
                f"database is at version {current}, this code knows only {len(statements)}",
            )
        for version, statement in enumerate(statements[current:], start=current + 1):
            try:
                conn.execute(statement.sqlite if isinstance(statement, Dialects) else statement)
            except sqlite3.Error as exc:
                raise StoreError(
                    "sqlite", f"migrate {component} to version {version}", str(exc)
                ) from exc
            conn.execute(
                "INSERT INTO schema_migrations (component, version) VALUES (?, ?)",
                (component, version),
            )
    return len(statements)


Orgs = frozenset[str] | None
"""The organisations a user may see: a set of ids, or None for a system administrator (all)."""


def org_filter(column: str, organisations: Orgs) -> tuple[str, list[object]]:
    """SQL condition and parameters that keep rows of ``column`` inside ``organisations``."""
    if organisations is None:
        return "1 = 1", []
    orgs = sorted(organisations)
    if not orgs:
        return "0 = 1", []
    return f"{column} IN ({','.join('?' * len(orgs))})", list(orgs)
