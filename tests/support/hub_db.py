"""The hub database on either engine, for the components' suites (one suite, both engines).

``hub_dbs`` is parametrised over SQLite (a file in the test's temporary directory) and
PostgreSQL (an empty database of the test's own on the suite's cluster,
:mod:`tests.support.postgres`); ``hub_dbs.open()`` opens another connection to the same
database (a second process, an admin command), ``hub_db`` is the first one. Every
connection is closed when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.config import PostgresSettings
from hub.db import Connection, open_db
from hub.store.postgresql_conn import PgConnection

__all__ = ["ENGINES", "HubDatabases", "hub_db", "hub_dbs"]

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


class HubDatabases:
    """Connections to one test's hub database."""

    def __init__(self, engine: str, path: Path, dsn: str | None) -> None:
        self.engine = engine
        self.path = path
        """The SQLite file (engine ``sqlite``)."""
        self.dsn = dsn
        """The PostgreSQL database (engine ``postgresql``)."""
        self._opened: list[Connection] = []

    def open(self) -> Connection:
        conn: Connection
        if self.dsn is None:
            conn = open_db(self.path)
        else:
            conn = PgConnection(PostgresSettings(dsn=SecretStr(self.dsn)))
        self._opened.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._opened:
            conn.close()


@pytest.fixture(params=ENGINES)
def hub_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubDatabases]:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else None
    databases = HubDatabases(request.param, tmp_path / "hub.sqlite3", dsn)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def hub_db(hub_dbs: HubDatabases) -> Connection:
    return hub_dbs.open()
