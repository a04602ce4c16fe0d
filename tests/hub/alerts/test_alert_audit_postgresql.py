"""PostgreSQL: the alert audit is append-only in the database, for the hub's own role too.

The hub connects as an ordinary role that owns its tables (it runs the migrations). The
audit tables' trigger refuses UPDATE, DELETE and TRUNCATE, and the migration takes those
privileges away from that role, so the statement is refused before the trigger runs.
"""

from __future__ import annotations

import secrets
import sqlite3

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from hjem.postgres import PostgresCluster
from hub.alerts.store import AlertStore
from hub.config import PostgresSettings
from hub.store.postgresql_conn import PgConnection

pytestmark = pytest.mark.postgresql


@pytest.fixture
def hub_role(postgres_cluster: PostgresCluster, postgres_dsn: str) -> str:
    """A DSN of an ordinary role (no superuser) that owns the test's database."""
    role, password = f"hub_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    database = psycopg.conninfo.conninfo_to_dict(postgres_dsn)["dbname"]
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        admin.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(str(database)), sql.Identifier(role)
            )
        )
        admin.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
    return f"postgresql://{role}:{password}@127.0.0.1:{postgres_cluster.port}/{database}"


def test_the_hubs_role_may_not_change_the_audit(hub_role: str) -> None:
    conn = PgConnection(PostgresSettings(dsn=SecretStr(hub_role)))
    try:
        AlertStore(conn)
        conn.execute(
            "INSERT INTO alert (id, rule, subject, state, severity, summary, sequence, is_open,"
            " opened_us, updated_us) VALUES ('a-1', 'fall', 'r-1', 'active_unack', 'high', 's',"
            " 0, 1, 0, 0)"
        )
        conn.execute(
            "INSERT INTO alert_audit (alert_id, sequence, time_us, actor, action, to_state,"
            " detail) VALUES ('a-1', 0, 0, 'system', 'fire', 'active_unack', '{}')"
        )
        for statement in (
            "UPDATE alert_audit SET actor = 'someone else'",
            "DELETE FROM alert_audit",
            "TRUNCATE alert_audit",
            "DELETE FROM alert_silence_audit",
        ):
            assert isinstance(_refusal(conn, statement), psycopg.errors.InsufficientPrivilege)
        assert conn.execute("SELECT actor FROM alert_audit").fetchall() == [("system",)]
    finally:
        conn.close()


def test_even_a_superuser_meets_the_trigger(postgres_dsn: str) -> None:
    conn = PgConnection(PostgresSettings(dsn=SecretStr(postgres_dsn)))
    try:
        AlertStore(conn)
        conn.execute("TRUNCATE alert_outbox")  # another table: allowed
        for table in ("alert_audit", "alert_silence_audit"):
            refusal = _refusal(conn, f"TRUNCATE {table}")
            assert isinstance(refusal, psycopg.errors.RestrictViolation)
            assert str(refusal).startswith(f"{table} is append-only")
    finally:
        conn.close()


def _refusal(conn: PgConnection, statement: str) -> BaseException | None:
    """What PostgreSQL answered to ``statement`` (the hub sees it as a sqlite3 error)."""
    with pytest.raises(sqlite3.Error) as refused:
        conn.execute(statement)
    return refused.value.__cause__
