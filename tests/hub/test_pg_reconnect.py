"""The relational connection to PostgreSQL across a server restart (``pg_ctl stop -m
immediate``, then started again): it reconnects by itself, never runs a statement of a lost
transaction on the new connection, and writes nothing twice."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from hjem.postgres import PostgresCluster
from hub.config import PostgresSettings
from hub.db import transaction
from hub.store.postgresql_conn import PgConnection

pytestmark = pytest.mark.postgresql


@pytest.fixture
def cluster(own_postgres: PostgresCluster) -> PostgresCluster:
    """Stopped and started by these tests: not the session's cluster."""
    return own_postgres


@pytest.fixture
def conn(cluster: PostgresCluster) -> Iterator[PgConnection]:
    opened = PgConnection(PostgresSettings(dsn=SecretStr(cluster.create_database("hub"))))
    opened.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    try:
        yield opened
    finally:
        opened.close()


def _restart(cluster: PostgresCluster) -> None:
    cluster.stop("immediate")
    cluster.start()


def test_reads_and_transactions_go_on_after_a_restart_by_themselves(
    cluster: PostgresCluster, conn: PgConnection
) -> None:
    conn.execute("INSERT INTO t (k) VALUES (?)", ("before",))
    _restart(cluster)
    assert conn.execute("SELECT k FROM t").fetchall() == [("before",)]  # no failure first
    _restart(cluster)
    with transaction(conn):  # its BEGIN found the connection lost and went on a new one
        conn.execute("INSERT INTO t (k) VALUES (?)", ("after",))
    assert conn.execute("SELECT k FROM t ORDER BY k").fetchall() == [("after",), ("before",)]


def test_a_write_outside_a_transaction_is_not_sent_twice(
    cluster: PostgresCluster, conn: PgConnection
) -> None:
    _restart(cluster)
    with pytest.raises(sqlite3.OperationalError):  # it may or may not have run: not again
        conn.execute("INSERT INTO t (k) VALUES (?)", ("maybe",))
    conn.execute("INSERT INTO t (k) VALUES (?)", ("next",))  # the next one reconnects
    assert conn.execute("SELECT k FROM t").fetchall() == [("next",)]


def test_a_transaction_lost_in_the_middle_fails_to_its_end_and_commits_nothing(
    cluster: PostgresCluster, conn: PgConnection
) -> None:
    def interrupted() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO t (k) VALUES (?)", ("first",))
            _restart(cluster)
            with contextlib.suppress(sqlite3.OperationalError):  # a caller that goes on ...
                conn.execute("INSERT INTO t (k) VALUES (?)", ("second",))
            assert conn.in_transaction
            conn.execute(
                "INSERT INTO t (k) VALUES (?)", ("third",)
            )  # ... gets errors, none on a new connection

    with pytest.raises(sqlite3.OperationalError, match="lost inside a transaction"):
        interrupted()
    assert not conn.in_transaction
    assert conn.execute("SELECT k FROM t").fetchall() == []  # nothing of it, on no connection


def test_while_the_server_is_down_statements_fail_with_the_database_error(
    cluster: PostgresCluster, conn: PgConnection
) -> None:
    cluster.stop("immediate")
    for _ in range(2):  # the one that finds the connection lost, then a reconnect refused
        with pytest.raises(sqlite3.OperationalError, match=r"connection|server"):
            conn.execute("SELECT 1")
    cluster.start()
    assert conn.execute("SELECT 1").fetchall() == [(1,)]
