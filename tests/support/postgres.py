"""PostgreSQL for the tests: one cluster per session, a fresh database per test.

The cluster (:class:`hjem.postgres.PostgresCluster`) runs as an unprivileged account in a
temporary directory on a free 127.0.0.1 port and is stopped by its PID when the session ends.
``postgres_dsn`` creates an empty database for each test (``CREATE DATABASE``: a file copy of
``template1``) and drops it afterwards. Tests that stop the server start a cluster of their own
(:func:`own_cluster`), so the session's keeps running for every other test.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hjem.postgres import PostgresCluster, server_bindir

__all__ = ["fresh_database", "own_cluster", "own_postgres", "postgres_cluster", "postgres_dsn"]

_names = itertools.count(1)


def own_cluster() -> PostgresCluster:
    """A cluster for one test (started; ``remove()`` it), skipped without PostgreSQL."""
    if server_bindir() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    cluster = PostgresCluster()
    try:
        return cluster.start()
    except BaseException:
        cluster.remove()
        raise


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of the test's own, which it may stop and start (removed afterwards)."""
    running = own_cluster()
    try:
        yield running
    finally:
        running.remove()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = own_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def fresh_database(cluster: PostgresCluster) -> Iterator[str]:
    """An empty database of its own on ``cluster`` (dropped afterwards): its DSN."""
    name = f"test_{os.getpid()}_{next(_names)}"
    dsn = cluster.create_database(name)
    try:
        yield dsn
    finally:
        cluster.drop_database(name)


@pytest.fixture
def postgres_dsn(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The DSN (with password) of an empty database of its own."""
    with fresh_database(postgres_cluster) as dsn:
        yield dsn
