"""The hub database on either engine, for the components' suites (one suite, both engines).

``hub_dbs`` is parametrised over SQLite (a file in the test's temporary directory) and
PostgreSQL (an empty database of the test's own on the suite's cluster,
:mod:`tests.support.postgres`); ``hub_dbs.open()`` opens another connection to the same
database (a second process, an admin command), ``hub_db`` is the first one. Every
connection is closed when the test ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hub.config import HubSettings, PostgresSettings, StoreSettings
from hub.db import Connection, open_db
from hub.store.base import TimeSeriesStore
from hub.store.postgresql import PostgresStore
from hub.store.postgresql_conn import PgConnection
from hub.store.sqlite import SqliteStore
from tests.support.postgres import fresh_database

__all__ = ["ENGINES", "HubDatabases", "engine_databases", "hub_db", "hub_dbs"]

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
        self._stores: list[TimeSeriesStore] = []

    def open(self) -> Connection:
        conn: Connection
        if self.dsn is None:
            conn = open_db(self.path)
        else:
            conn = PgConnection(PostgresSettings(dsn=SecretStr(self.dsn)))
        self._opened.append(conn)
        return conn

    def store(self, conn: Connection) -> TimeSeriesStore:
        """The observation store a hub on this engine uses beside ``conn`` (one of
        :meth:`open`'s): SQLite's in the same file, or PostgreSQL's with a pool of its own."""
        store: TimeSeriesStore
        if isinstance(conn, sqlite3.Connection):
            store = SqliteStore(conn)
        else:
            assert self.dsn is not None
            store = PostgresStore.open(PostgresSettings(dsn=SecretStr(self.dsn)))
        self._stores.append(store)
        return store

    def settings(self, **fields: Any) -> HubSettings:
        """Hub settings (``fields`` as given) whose relational tables are in this database
        (and, on PostgreSQL, the observations too: ``store.kind = "postgresql"``)."""
        if self.dsn is not None:
            fields.setdefault(
                "store",
                StoreSettings(
                    kind="postgresql", postgresql=PostgresSettings(dsn=SecretStr(self.dsn))
                ),
            )
        return HubSettings(database=self.path, **fields)

    def toml(self) -> str:
        """The hub settings (TOML) that put the relational tables in this database: the
        SQLite file by its name beside the configuration, or ``store.kind = "postgresql"``."""
        if self.dsn is None:
            return f'database = "{self.path.name}"\n'
        return f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{self.dsn}"\n'

    def write_toml(self, extra: str = "") -> Path:
        """``hub.toml`` beside the SQLite file: ``extra`` (TOML) and :meth:`toml`, in an
        order that keeps ``extra``'s top-level keys out of a table."""
        path = self.path.parent / "hub.toml"
        text = self.toml() + extra if self.dsn is None else extra + self.toml()
        path.write_text(text, encoding="utf-8")
        return path

    def close(self) -> None:
        for store in self._stores:
            store.close()
        for conn in self._opened:
            conn.close()


@contextmanager
def engine_databases(request: pytest.FixtureRequest, directory: Path) -> Iterator[HubDatabases]:
    """The hub database of a fixture parametrised with ``params=ENGINES`` (any scope): a
    SQLite file in ``directory``, or an empty PostgreSQL database on the suite's cluster."""
    with ExitStack() as stack:
        dsn = None
        if request.param == "postgresql":
            cluster = request.getfixturevalue("postgres_cluster")
            dsn = stack.enter_context(fresh_database(cluster))
        databases = HubDatabases(request.param, directory / "hub.sqlite3", dsn)
        stack.callback(databases.close)
        yield databases


@pytest.fixture(params=ENGINES)
def hub_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubDatabases]:
    with engine_databases(request, tmp_path) as databases:
        yield databases


@pytest.fixture
def hub_db(hub_dbs: HubDatabases) -> Connection:
    return hub_dbs.open()
