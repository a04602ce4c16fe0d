"""The on-disk outbox: every observation is stored here first and leaves only when acknowledged.

SQLite in WAL mode. Each :meth:`Outbox.put` is one committed transaction, so a process killed
at any moment (SIGKILL included) loses nothing that ``put`` returned for; ``synchronous =
"full"`` also survives a power cut, at the cost of an fsync per commit. Rows are removed only by
:meth:`Outbox.remove`, which the publisher calls after the broker's PUBACK.

Disk quota policy: the outbox counts the bytes of the stored observations (plus a fixed
per-row overhead). When a ``put`` would take it over the quota, it first drops the *oldest
non-vital* rows (room climate, battery, signal strength) until it is below 90 % of the quota,
and only if that is not enough, the oldest vital rows (vital signs and events). Every dropped
row is counted (persistently) and reported in the gateway status as ``outbox_dropped``.
The write-ahead log is checkpointed and truncated so that it stays near the quota too
(:func:`wal_bounds`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from edge.errors import OutboxError
from foundation.sqlite import transaction

__all__ = ["ROW_OVERHEAD_BYTES", "Outbox", "OutboxRow", "StoredItem", "wal_bounds"]

ROW_OVERHEAD_BYTES = 64
"""Bytes counted per row beyond the observation itself (id, keys, page overhead)."""
_LOW_WATER = 0.9
_PAGE_BYTES = 4096
"""SQLite's default page size (the outbox does not change it)."""
_MIN_CHECKPOINT_PAGES = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    obs_id TEXT NOT NULL,
    vital INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_nonvital ON outbox (vital, seq);

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def wal_bounds(quota_bytes: int) -> list[str]:
    """PRAGMAs that keep the write-ahead log near the quota.

    SQLite checkpoints every 1,000 pages (4 MiB) by default and never shrinks the WAL file,
    so a small outbox's WAL grew to ~80x its quota. Checkpoint once the WAL holds about a
    quota's worth of pages (16 to 1,000), and truncate it to at most the quota afterwards.
    """
    pages = min(max(quota_bytes // _PAGE_BYTES, _MIN_CHECKPOINT_PAGES), 1000)
    limit = max(quota_bytes, _MIN_CHECKPOINT_PAGES * _PAGE_BYTES)
    return [f"PRAGMA wal_autocheckpoint={pages}", f"PRAGMA journal_size_limit={limit}"]


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What goes in: the observation id, whether it is vital, and its wire form (JSON)."""

    obs_id: str
    vital: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    body: bytes
    obs_id: str = ""


class Outbox:
    """A bounded, durable FIFO of observations. Not thread-safe: use it from one event loop."""

    def __init__(self, path: Path, quota_bytes: int, synchronous: str = "normal") -> None:
        self.path = path
        self.quota_bytes = quota_bytes
        self._synchronous = synchronous.upper()
        self._db: sqlite3.Connection | None = None
        self._stored_bytes = 0
        self._depth = 0
        self._dropped = 0

    # -- life cycle -------------------------------------------------------------------------

    def open(self) -> Outbox:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            for pragma in wal_bounds(self.quota_bytes):
                db.execute(pragma)
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot open: {exc}") from exc
        except OSError as exc:
            raise OutboxError(str(self.path), f"cannot create its directory: {exc}") from exc
        self._db = db
        self._reload_counters()
        return self

    def _reload_counters(self) -> None:
        depth, size = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM outbox"
        ).fetchone()
        row = self.db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        self._depth = int(depth)
        self._stored_bytes = int(size) + ROW_OVERHEAD_BYTES * self._depth
        self._dropped = int(row[0]) if row else 0

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> Outbox:
        return self.open()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._db is not None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(str(self.path), "is not open")
        return self._db

    # -- figures ----------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Observations stored and not yet acknowledged by the broker."""
        return self._depth

    @property
    def dropped(self) -> int:
        """Observations dropped by the quota policy since the outbox was created."""
        return self._dropped

    @property
    def stored_bytes(self) -> int:
        return self._stored_bytes

    # -- writing ----------------------------------------------------------------------------

    def put(self, items: Iterable[StoredItem]) -> int:
        """Store observations in one committed transaction; return how many were stored."""
        rows = [(i.obs_id, int(i.vital), i.body) for i in items]
        if not rows:
            return 0
        added = sum(len(r[2]) + ROW_OVERHEAD_BYTES for r in rows)
        try:
            with self._transaction():
                if self._stored_bytes + added > self.quota_bytes:
                    self._enforce_quota(added)
                self.db.executemany(
                    "INSERT INTO outbox (obs_id, vital, body) VALUES (?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            self._reload_counters()
            raise OutboxError(str(self.path), f"cannot store {len(rows)} rows: {exc}") from exc
        except OutboxError:
            self._reload_counters()
            raise
        self._stored_bytes += added
        self._depth += len(rows)
        return len(rows)

    def take(self, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        """The oldest ``limit`` rows with ``seq > after_seq``, in order (they stay stored)."""
        try:
            cur = self.db.execute(
                "SELECT seq, body, obs_id FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            return [OutboxRow(seq, body, obs_id) for seq, body, obs_id in cur.fetchall()]
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot read: {exc}") from exc

    def remove(self, first_seq: int, last_seq: int) -> int:
        """Delete the rows ``first_seq..last_seq`` (one acknowledged message); return count."""
        return self.remove_ranges([(first_seq, last_seq)])

    def remove_ranges(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Delete several acknowledged ranges in one transaction; return how many rows went."""
        count = size = 0
        try:
            with self._transaction():
                for first, last in ranges:
                    n, b = self.db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM outbox "
                        "WHERE seq BETWEEN ? AND ?",
                        (first, last),
                    ).fetchone()
                    count, size = count + int(n), size + int(b)
                self.db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", ranges)
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot delete acknowledged rows: {exc}") from exc
        self._depth -= count
        self._stored_bytes -= size + ROW_OVERHEAD_BYTES * count
        return count

    # -- small persistent state (e.g. the last glucose record number per device) -------------

    def get_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"s:{key}",)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        try:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"s:{key}", value),
            )
        except sqlite3.Error as exc:
            raise OutboxError(str(self.path), f"cannot save state {key}: {exc}") from exc

    # -- internals --------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self.db)

    def _enforce_quota(self, added: int) -> None:
        if added > self.quota_bytes:
            raise OutboxError(str(self.path), "one write is larger than the whole disk quota")
        excess = self._stored_bytes + added - int(self.quota_bytes * _LOW_WATER)
        for vital in (0, 1):
            if excess > 0:
                excess -= self._drop_oldest(vital, excess)

    def _drop_oldest(self, vital: int, excess: int) -> int:
        freed, seqs = 0, []
        cur = self.db.execute(
            "SELECT seq, length(body) FROM outbox WHERE vital = ? ORDER BY seq", (vital,)
        )
        for seq, size in cur:
            seqs.append(seq)
            freed += size + ROW_OVERHEAD_BYTES
            if freed >= excess:
                break
        cur.close()
        if seqs:
            self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self._dropped += len(seqs)
            self._depth -= len(seqs)
            self._stored_bytes -= freed
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(self._dropped),),
            )
        return freed
