"""The outbox: durable, ordered, bounded by its quota with the documented drop policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.errors import OutboxError
from edge.outbox import ROW_OVERHEAD_BYTES, Outbox, StoredItem
from schemas.models import encode
from tests.support.edge import observation


def item(i: int, vital: bool = False) -> StoredItem:
    obs = observation(i)
    return StoredItem(obs.id, vital, encode(obs))


def test_rows_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, 10_000_000) as box:
        box.put(item(i) for i in range(10))
        assert box.depth == 10
    with Outbox(path, 10_000_000) as box:
        rows = box.take(100)
        assert [r.body for r in rows] == [item(i).body for i in range(10)]
        assert box.remove(rows[0].seq, rows[3].seq) == 4
        assert box.depth == 6
        assert box.take(100, after_seq=rows[5].seq)[0].seq == rows[6].seq


def test_quota_drops_oldest_non_vital_first_and_counts(tmp_path: Path) -> None:
    size = len(item(0).body) + ROW_OVERHEAD_BYTES
    with Outbox(tmp_path / "o.sqlite", quota_bytes=size * 20) as box:
        box.put(item(i, vital=(i % 2 == 0)) for i in range(20))
        assert box.dropped == 0
        box.put([item(100, vital=True)])
        assert box.dropped > 0
        kept = {r.body for r in box.take(100)}
        vital_kept = sum(item(i, True).body in kept for i in range(0, 20, 2))
        assert vital_kept == 10, "vital rows go only when no non-vital row is left"
        assert item(1).body not in kept, "the oldest non-vital row is the first to go"
        assert box.stored_bytes <= box.quota_bytes
    with Outbox(tmp_path / "o.sqlite", quota_bytes=size * 20) as box:
        assert box.dropped > 0, "the drop count is persistent"


def test_a_single_write_larger_than_the_quota_is_refused(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", quota_bytes=100) as box:
        with pytest.raises(OutboxError, match="larger than the whole disk quota"):
            box.put([item(1, vital=True)])
        assert box.depth == 0


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutboxError, match="outbox"):
        Outbox(blocker / "o.sqlite", 1000).open()


def test_state_is_persistent(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", 1000) as box:
        box.set_state("racp:AA", "41")
    with Outbox(tmp_path / "o.sqlite", 1000) as box:
        assert box.get_state("racp:AA") == "41"
        assert box.get_state("other") is None


_WRITER = """
import sys
from edge.outbox import Outbox, StoredItem
box = Outbox(__import__('pathlib').Path(sys.argv[1]), 10**9).open()
i = 0
while True:
    box.put([StoredItem(f"id{i}", False, b'{"n":%d}' % i)])
    print(i, flush=True)
    i += 1
"""


def test_sigkill_mid_write_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 300:
            break
    os.kill(proc.pid, 9)
    proc.wait()
    proc.stdout.close()
    with Outbox(path, 10**9) as box:
        bodies = [r.body for r in box.take(10**6)]
    assert len(bodies) >= last + 1, "every put that returned is on disk"
    assert bodies[: last + 1] == [b'{"n":%d}' % i for i in range(last + 1)]
