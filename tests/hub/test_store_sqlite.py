"""What only the SQLite store has: its earlier layouts, payloads in its file, chunked inserts.

Its behaviour shared with the PostgreSQL store is tested on both in test_store.py.
"""

from __future__ import annotations

import sqlite3
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import RetentionSettings
from hub.db import insert_rows, migrate, open_db
from hub.errors import StoreError
from hub.ingest.payloads import DEFLATE_MIN_BYTES
from hub.store.base import StoredObservation
from hub.store.sqlite import MIGRATIONS, SqliteStore
from hub.store.sqlite_rows import rollup_rows
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SRC = Source(publisher="gw-1", device=DeviceInfo(id="thermo-1"))


def temp(minute: float, value: str, resident: str | None = "r-a") -> StoredObservation:
    obs = make_observation(
        "body_temperature", source=SRC, effective=T0 + timedelta(minutes=minute), value=value
    )
    return StoredObservation(obs, "gw-1", resident, T0)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(open_db(tmp_path / "hub.sqlite3"), RetentionSettings(raw_days=30))


def test_ingest_refuses_to_join_an_open_transaction(tmp_path: Path) -> None:
    from hub.errors import StoreError
    from hub.ingest.commit import Inbound, Ingestor
    from hub.registry.core import Registry
    from hub.registry.gateways import Gateways
    from hub.store.ledger import Ledger
    from tests.hub.helpers import batch

    conn = open_db(tmp_path / "hub.sqlite3")
    store = SqliteStore(conn)
    ingestor = Ingestor(
        conn,
        registry=Registry(conn),
        store=store,
        ledger=Ledger(conn),
        gateways=Gateways(conn),
        clock=lambda: T0 + timedelta(days=30),
    )
    inbound = Inbound("hjem/v1/gw-1/obs", batch("gw-1", 0, 2), T0)
    conn.execute("BEGIN")
    with pytest.raises(StoreError, match="already open"):
        ingestor.process([inbound])
    conn.execute("ROLLBACK")
    processed = ingestor.process([inbound])
    assert len(processed.stored) == 2
    assert store.count() == 2


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["r-a", "r-b", ""]),
            st.sampled_from(["d-1", "d-2"]),
            st.sampled_from(["150364", "149530"]),
            st.integers(min_value=-(10**13), max_value=10**13),
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_rollups_computed_in_python_match_sql_grouping(
    samples: list[tuple[str, str, str, int, float]],
) -> None:
    rows = [(r, d, c, t, v, "Cel", f"o-{i}") for i, (r, d, c, t, v) in enumerate(samples)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE s (r, d, c, t, v)")
    conn.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?)", [row[:5] for row in rows])
    expected = []
    for width_s in (300, 3600):
        w_us = width_s * 1_000_000
        expected += conn.execute(
            "SELECT ?, r, c, t - (t % ?), d, COUNT(*), SUM(v), MIN(v), MAX(v) FROM s"
            " GROUP BY r, c, t - (t % ?), d",
            (width_s, w_us, w_us),
        ).fetchall()
    mine = rollup_rows(rows)
    assert sorted(row[:6] for row in mine) == sorted(row[:6] for row in expected)
    got = {row[:5]: row[6:] for row in mine}
    for row in expected:
        lo, hi = got[row[:5]][1:]
        assert (lo, hi) == (row[7], row[8])
        assert got[row[:5]][0] == pytest.approx(row[6], rel=1e-9, abs=1e-6)


def test_a_database_of_the_previous_layout_is_migrated_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = open_db(path)
    migrate(old, "store", MIGRATIONS[:9])  # the layout with UNIQUE (id) alone
    item = temp(1, "36.6")
    old.execute(
        "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
        " effective_us, received_us, json) VALUES (?, 'gw-1', 'thermo-1', 'r-a', ?, ?, ?, ?, ?)",
        (item.id, "urn:iso:std:iso:11073:10101", item.code, item.effective_us, 0, "{}"),
    )
    old.close()
    store = SqliteStore(open_db(path))
    assert store.ids() == [item.id]
    assert store.write([item]) == 0  # already there: same id, same time
    assert store.write([temp(2, "36.7")]) == 1
    assert store.count() == 2


def test_values_stored_before_version_16_are_read_with_the_new_ones(
    store: SqliteStore, tmp_path: Path
) -> None:
    old = temp(1, "36.2")
    conn = open_db(tmp_path / "hub.sqlite3")  # rows as an earlier version of the store wrote them
    conn.execute(
        "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
        " effective_us, received_us, json) VALUES (?, 'gw-1', 'thermo-1', 'r-a', ?, ?, ?, 0, '{}')",
        (old.id, "urn:iso:std:iso:11073:10101", old.code, old.effective_us),
    )
    conn.execute(
        "INSERT INTO sample VALUES ('r-a', 'thermo-1', ?, ?, 36.2, 'Cel', ?)",
        (old.code, old.effective_us, old.id),
    )
    assert store.write([temp(2, "36.8"), temp(3, "37.1")]) == 2
    code, hour = old.code, T0 + timedelta(hours=1)
    values = store.query(resident_id="r-a", code=code, start=T0, end=hour)
    assert [s.value for s in values] == [36.2, 36.8, 37.1]
    by_device = store.query(device_id="thermo-1", code=code, start=T0, end=hour)
    assert [s.observation_id for s in by_device] == [s.observation_id for s in values]
    [bucket] = store.rollup(
        resident_id="r-a", code=code, start=T0, end=hour, width=timedelta(minutes=10)
    )
    assert (bucket.count, bucket.minimum, bucket.maximum) == (3, 36.2, 37.1)
    assert store.latest("r-a")[code].value == 37.1
    assert conn.execute("SELECT COUNT(*) FROM sample").fetchone()[0] == 1  # only the old one


def _batch_items(message: str, minutes: list[float]) -> list[StoredObservation]:
    observations = [temp(m, f"36.{i % 10}").observation for i, m in enumerate(minutes)]
    payload = encode(
        Batch(message_id=message, publisher="gw-1", sent=T0, observations=observations)
    )
    return [StoredObservation(o, "gw-1", "r-a", T0, payload, i) for i, o in enumerate(observations)]


def test_message_payloads_are_stored_deflated_and_read_back_as_received(
    store: SqliteStore, tmp_path: Path
) -> None:
    large = _batch_items("m-large", [m / 4 for m in range(20)])
    small = _batch_items("m-small", [7, 8])
    assert len(large[0].payload or b"") >= DEFLATE_MIN_BYTES > len(small[0].payload or b"")
    assert store.write(large + small) == 22
    conn = open_db(tmp_path / "hub.sqlite3")
    (deflated, encoding), (kept, none) = conn.execute(
        "SELECT payload, encoding FROM message ORDER BY id"
    ).fetchall()
    assert (encoding, none) == ("zlib", None)
    assert zlib.decompress(deflated) == large[0].payload  # byte for byte as received
    assert len(deflated) < len(large[0].payload or b"") / 4
    assert kept == small[0].payload
    full = store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(hours=1))
    assert [o.observation for o in full] == [i.observation for i in large + small]


def test_messages_stored_before_version_20_are_read_with_the_new_ones(
    store: SqliteStore, tmp_path: Path
) -> None:
    old = _batch_items("m-old", [1, 2])
    conn = open_db(tmp_path / "hub.sqlite3")  # as an earlier version wrote them: not deflated
    conn.execute(
        "INSERT INTO message (id, publisher, received_us, payload) VALUES (7, 'gw-1', 0, ?)",
        (old[0].payload,),
    )
    conn.executemany(
        "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
        " effective_us, received_us, message, position)"
        " VALUES (?, 'gw-1', 'thermo-1', 'r-a', ?, ?, ?, 0, 7, ?)",
        [
            (
                i.reading.id,
                "urn:iso:std:iso:11073:10101",
                i.observation.code[0].code,
                i.effective_us,
                i.position,
            )
            for i in old
        ],
    )
    new = _batch_items("m-new", [3])
    assert store.write(new) == 1
    full = store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(hours=1))
    assert [o.observation for o in full] == [i.observation for i in old + new]


def test_an_unknown_payload_encoding_is_a_clear_store_error(
    store: SqliteStore, tmp_path: Path
) -> None:
    assert store.write(_batch_items("m-1", [m / 4 for m in range(20)])) == 20
    conn = open_db(tmp_path / "hub.sqlite3")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE message SET encoding = 'lz9'")
    with pytest.raises(StoreError, match="unknown message payload encoding 'lz9'"):
        store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(hours=1))


@pytest.mark.parametrize("count", [0, 1, 3, 4, 37, 256, 300, 600])
def test_insert_rows_inserts_every_row_once_across_chunk_sizes(tmp_path: Path, count: int) -> None:
    conn = open_db(tmp_path / "rows.sqlite3")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, a TEXT, b REAL)")
    conn.execute("INSERT INTO t VALUES (5, 'old', 0.0)")  # already there: ignored, not counted
    rows = [(k, f"r{k}", k / 2) for k in range(count)]
    inserted = insert_rows(conn, "INSERT OR IGNORE INTO t (k, a, b)", 3, rows)
    assert inserted == count - (1 if count > 5 else 0)
    stored = conn.execute("SELECT k, a, b FROM t ORDER BY k").fetchall()
    expected = sorted(({k: (k, a, b) for k, a, b in rows} | {5: (5, "old", 0.0)}).items())
    assert stored == [row for _, row in expected]


def test_retention_never_gives_a_number_out_again(store: SqliteStore) -> None:
    """Retention keeps the newest row even when it is old: SQLite would give its rowid to the
    next row, and a consumer already past that number would never see the new row."""
    store.write([temp(0, "36.1"), temp(1, "36.2")])
    top = store.last_stored()
    assert store.apply_retention(T0 + timedelta(days=31)) == 1
    assert store.last_stored() == top
    store.write([temp(2, "36.3")])
    [(number, item)] = store.stored_since(top, 10)
    assert number > top
    assert item.observation == temp(2, "36.3").observation
