"""The hub's PostgreSQL database: the connection pool and versioned migrations.

One :class:`psycopg_pool.ConnectionPool` per hub process, built from
:class:`~hub.config.PostgresSettings`; the observation store uses it today, and the
registry, users and alerts can share the same pool when they move (every component keeps its
own migration history, as in the SQLite file).

Why not a migration tool (yoyo-migrations, Alembic): the hub already versions its SQLite
schema as an ordered list of statements per component, recorded in ``schema_migrations``
(:func:`hub.db.migrate`), and the PostgreSQL schema follows the same convention: one history
shape for both engines, no second source of truth, no dependency that opens its own
connections outside the pool. PostgreSQL's transactional DDL makes each start's upgrade
all-or-nothing, and a transaction-scoped advisory lock serialises hub nodes that start at the
same time, so exactly one of them applies a version and the others see it applied. A
database at a version newer than the code is refused with both numbers (an older hub must not
write into a schema it does not know).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from hub.config import PostgresSettings
from hub.errors import StoreError

__all__ = ["BACKEND", "Migration", "describe", "migrate", "open_pool"]

BACKEND = "postgresql"
Migration = tuple[str, ...]
"""One schema version: its statements, applied in one transaction."""
_MIGRATE_LOCK = 0x68_6A_65_6D_6D_69_67  # "hjemmig": one hub node migrates at a time


def describe(dsn: str) -> str:
    """``host:port/database`` of a DSN, for messages (never the password or other secrets)."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unreadable DSN)"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


def open_pool(
    settings: PostgresSettings, components: dict[str, Sequence[Migration]]
) -> ConnectionPool:
    """Migrate each component's schema, then open the pool; StoreError names the server.

    The first connection is made directly, so that a refusal (wrong password, no such
    database, nothing listening) is reported as the server said it, not as a pool timeout.
    """
    dsn = settings.dsn.get_secret_value()
    where = describe(dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, round(settings.timeout_s))) as conn:
            for component, migrations in components.items():
                migrate(conn, component, migrations)
    except psycopg.Error as exc:
        raise StoreError(BACKEND, f"open {where}", _message(exc)) from exc
    pool = ConnectionPool(
        dsn,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=settings.timeout_s,
        name=where,
        open=False,
        check=ConnectionPool.check_connection,  # a connection lost to a restart: never handed out
    )
    pool.open()
    return pool


def _message(exc: psycopg.Error) -> str:
    return str(exc).strip().replace("\n", " ") or type(exc).__name__


def migrate(conn: psycopg.Connection, component: str, migrations: Sequence[Migration]) -> int:
    """Apply the versions of ``component`` not applied yet; return its schema version.

    Raises StoreError when the database is newer than ``migrations`` or a statement fails
    (then nothing of that start's upgrade is applied).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (component text NOT NULL,"
            " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (component, version))"
        )
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = %s",
            (component,),
        ).fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise StoreError(
                BACKEND,
                f"migrate {component}",
                f"database is at version {current}, this code knows only {len(migrations)}"
                " (a newer hub wrote it: run that version)",
            )
        for version, statements in enumerate(migrations[current:], start=current + 1):
            for statement in statements:
                try:
                    conn.execute(statement)
                except psycopg.Error as exc:
                    raise StoreError(
                        BACKEND, f"migrate {component} to version {version}", _message(exc)
                    ) from exc
            conn.execute(
                "INSERT INTO schema_migrations (component, version) VALUES (%s, %s)",
                (component, version),
            )
    return len(migrations)
