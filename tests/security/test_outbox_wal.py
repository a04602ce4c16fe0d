"""Issue 15, finding 13 (edge): the outbox's write-ahead log must stay near its disk quota.

The red team saw the WAL of a small outbox grow to about 80 times the quota: SQLite
checkpoints only every 1,000 pages (4 MiB) and never shrinks the WAL file. A gateway's disk
budget is the quota, so after heavy churn (puts over the quota that drop rows, acknowledged
ranges deleted) the WAL and the database file together must stay within a small multiple.
"""

from __future__ import annotations

from pathlib import Path

from edge.outbox import Outbox, StoredItem
from schemas.models import encode
from tests.support.edge import observation

QUOTA = 64 * 1024
SLACK = 64 * 1024
"""A few pages of SQLite bookkeeping beyond the quota (WAL header, schema, meta)."""


def _items(start: int, count: int) -> list[StoredItem]:
    return [
        StoredItem(o.id, i % 3 == 0, encode(o))
        for i, o in ((i, observation(i)) for i in range(start, start + count))
    ]


def _sizes(path: Path) -> tuple[int, int]:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


def test_the_wal_stays_within_a_bound_of_the_quota_under_churn(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    peak_wal = peak_total = 0
    with Outbox(path, quota_bytes=QUOTA) as box:
        for round_ in range(600):
            box.put(_items(round_ * 10, 10))  # over the quota after a while: drops rows
            if round_ % 3 == 2:  # the broker acknowledged the oldest messages
                rows = box.take(15)
                box.remove(rows[0].seq, rows[-1].seq)
            db, wal = _sizes(path)
            peak_wal, peak_total = max(peak_wal, wal), max(peak_total, db + wal)
        assert box.dropped > 0, "the churn never reached the quota"
        assert box.stored_bytes <= QUOTA
    print(f"quota {QUOTA} B: peak WAL {peak_wal} B, peak database + WAL {peak_total} B")
    assert peak_wal <= 2 * QUOTA + SLACK, f"WAL grew to {peak_wal / QUOTA:.1f} x the quota"
    assert peak_total <= 4 * QUOTA + SLACK, f"files grew to {peak_total / QUOTA:.1f} x the quota"
