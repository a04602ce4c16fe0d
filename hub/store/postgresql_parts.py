"""Monthly range partitions of the PostgreSQL store's tables: created ahead, dropped by age.

Every table of the store is partitioned by a time column in UTC microseconds (the hub's
stored time form, :func:`hub.db.to_micros`), one partition per calendar month, named
``<table>_pYYYYMM``. A write creates the partitions its rows need before its transaction
(the current and the next month are made at start, so the steady state creates nothing);
retention drops every partition that lies wholly before the cut and deletes the older rows of
the one partition that straddles it. Several hub nodes may do both at once: creation runs
under a transaction-scoped advisory lock with ``IF NOT EXISTS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from hub.db import from_micros, to_micros

__all__ = ["TABLES", "Partitions", "month_of", "month_range"]

TABLES = {
    "message": "received_us",
    "observation": "effective_us",
    "sample": "t_us",
    "rollup": "bucket_us",
}
"""Partitioned tables and their partition key (UTC microseconds)."""
_DAY_US = 86_400_000_000
_CREATE_LOCK = 0x68_6A_65_6D_70_61_72  # "hjempar"
_NAME = re.compile(r"^(?P<table>[a-z]+)_p(?P<year>\d{4})(?P<month>\d{2})$")

Month = tuple[int, int]
"""(year, month) in UTC."""


def month_of(micros: int) -> Month:
    moment = from_micros(micros)
    return moment.year, moment.month


def month_range(month: Month) -> tuple[int, int]:
    """``[start, end)`` of a month in UTC microseconds."""
    year, number = month
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return to_micros(start), to_micros(end)


def months_of(micros: Iterable[int]) -> set[Month]:
    """The months of many instants, each distinct day converted once."""
    return {month_of(day * _DAY_US) for day in {t // _DAY_US for t in micros}}


def _name(table: str, month: Month) -> str:
    return f"{table}_p{month[0]:04d}{month[1]:02d}"


class Partitions:
    """What partitions exist (cached; reloaded after another node dropped some)."""

    def __init__(self) -> None:
        self._known: set[tuple[str, Month]] = set()

    def load(self, conn: psycopg.Connection) -> None:
        self._known = set(self._listed(conn))

    @staticmethod
    def _listed(conn: psycopg.Connection) -> list[tuple[str, Month]]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = ANY(%s::regclass[])",
            (list(TABLES),),
        ).fetchall()
        found = []
        for (name,) in rows:
            match = _NAME.match(name)
            if match and match["table"] in TABLES:
                found.append((match["table"], (int(match["year"]), int(match["month"]))))
        return found

    def missing(self, wanted: Iterable[tuple[str, Month]]) -> list[tuple[str, Month]]:
        return sorted(set(wanted) - self._known)

    def create(self, conn: psycopg.Connection, wanted: Iterable[tuple[str, Month]]) -> None:
        """Create the partitions of ``wanted`` not known to exist (own transaction)."""
        missing = self.missing(wanted)
        if not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
            for table, month in missing:
                start, end = month_range(month)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(_name(table, month)),
                        sql.Identifier(table),
                        sql.Literal(start),
                        sql.Literal(end),
                    )
                )
        self._known.update(missing)

    def drop_before(self, conn: psycopg.Connection, table: str, cut_us: int) -> int:
        """Drop ``table``'s partitions wholly before ``cut_us`` and delete the older rows of
        the one that holds it; return the rows removed. Runs in the caller's transaction."""
        removed = 0
        for listed, month in self._listed(conn):
            if listed != table or month_range(month)[1] > cut_us:
                continue
            name = sql.Identifier(_name(table, month))
            row = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(name)).fetchone()
            removed += int(row[0]) if row else 0
            conn.execute(sql.SQL("DROP TABLE {}").format(name))
            self._known.discard((table, month))
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} < %s").format(
                sql.Identifier(table), sql.Identifier(TABLES[table])
            ),
            (cut_us,),
        )
        return removed + max(deleted.rowcount, 0)
