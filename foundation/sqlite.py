"""The one SQLite transaction helper, shared by the hub's components and the edge outbox."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, Protocol

__all__ = ["Transactional", "rollback", "transaction"]


class Transactional(Protocol):
    """What :func:`transaction` needs: a sqlite3 connection in autocommit mode, or one that
    speaks like it (the hub's PostgreSQL connection, :mod:`hub.store.postgresql_conn`)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, /) -> Any: ...


@contextlib.contextmanager
def transaction(
    conn: Transactional,
    *,
    immediate: bool = True,
    wrap: Callable[[sqlite3.Error], Exception] | None = None,
) -> Iterator[None]:
    """BEGIN (IMMEDIATE) ... COMMIT, or ROLLBACK on error. Nests: inner calls join the outer.

    A failed COMMIT (locked, disk or database full) rolls back too, so the connection is never
    left inside a transaction. With ``wrap``, every sqlite3.Error raised by BEGIN, the body or
    COMMIT is raised as ``wrap(error)`` instead (from the original).
    """
    if conn.in_transaction:
        yield
        return
    try:
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    except sqlite3.Error as exc:
        if wrap is None:
            raise
        raise wrap(exc) from exc


def rollback(conn: Transactional) -> None:
    """ROLLBACK unless SQLite already rolled back (it may after SQLITE_FULL or BUSY)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
            conn.execute("ROLLBACK")
