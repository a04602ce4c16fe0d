"""What only the PostgreSQL store has: its migrations, monthly partitions, its settings, and
acknowledgement only after PostgreSQL committed (the server stopped under a running hub).

The behaviour it shares with the SQLite store is tested on both in test_store.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr, ValidationError

from hjem.mosquitto import Mosquitto
from hjem.postgres import PostgresCluster
from hub.config import HubSettings, PostgresSettings, RetentionSettings, StoreSettings
from hub.errors import StoreError
from hub.service import Hub
from hub.store.postgresql import PostgresStore
from hub.store.postgresql_parts import month_range
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, batch, expected_ids, settings_for
from tests.hub.test_store import temp
from tests.support.postgres import own_cluster

pytestmark = pytest.mark.postgresql


def _settings(dsn: str) -> PostgresSettings:
    return PostgresSettings(dsn=SecretStr(dsn))


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    opened = PostgresStore.open(_settings(postgres_dsn), RetentionSettings(raw_days=30))
    yield opened
    opened.close()


def _partitions(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY 1",
            (table,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_schema_versions_are_recorded_and_a_second_start_changes_nothing(postgres_dsn: str) -> None:
    first = PostgresStore.open(_settings(postgres_dsn))
    assert first.write([temp(0, "36.6")]) == 1
    first.close()
    second = PostgresStore.open(_settings(postgres_dsn))  # a restart, or another hub node
    assert second.count() == 1
    second.close()
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT component, version FROM schema_migrations").fetchall()
    assert sorted(rows) == [("store", 1), ("store", 2)]


def test_a_database_of_a_newer_version_is_refused_naming_both_versions(postgres_dsn: str) -> None:
    PostgresStore.open(_settings(postgres_dsn)).close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("INSERT INTO schema_migrations (component, version) VALUES ('store', 3)")
    with pytest.raises(StoreError, match="database is at version 3, this code knows only 2"):
        PostgresStore.open(_settings(postgres_dsn))


def test_this_and_next_months_partitions_are_made_at_start(
    store: PostgresStore, postgres_dsn: str
) -> None:
    now = datetime.now(UTC)
    this = f"{now.year:04d}{now.month:02d}"
    after = now.replace(day=1) + timedelta(days=32)
    following = f"{after.year:04d}{after.month:02d}"
    for table in ("message", "observation", "sample", "rollup"):
        names = _partitions(postgres_dsn, table)
        assert f"{table}_p{this}" in names
        assert f"{table}_p{following}" in names


def test_retention_drops_whole_months_and_deletes_in_the_month_it_cuts(
    store: PostgresStore, postgres_dsn: str
) -> None:
    old = [temp(-60 * 24 * 200 + i, "36.0") for i in range(3)]  # April 2026
    recent = [temp(i, "36.5") for i in range(2)]  # 1 November 2026, 08:00
    assert store.write(old + recent) == 5
    assert "observation_p202604" in _partitions(postgres_dsn, "observation")
    start, end = month_range((2026, 4))
    assert start <= old[0].effective_us < end
    deleted = store.apply_retention(recent[0].effective + timedelta(days=30, minutes=1))
    assert deleted == 3 + 1  # the April month whole, and the first minute of November
    names = _partitions(postgres_dsn, "observation")
    assert "observation_p202604" not in names
    assert "observation_p202611" in names
    assert store.ids() == [recent[1].id]
    assert store.write(old[:1]) == 1  # a late reading of a dropped month: its month again
    assert "observation_p202604" in _partitions(postgres_dsn, "observation")


def test_settings_need_a_dsn_and_never_show_its_password() -> None:
    with pytest.raises(ValidationError, match=r"needs postgresql\.dsn"):
        StoreSettings(kind="postgresql")
    dsn = "postgresql://hub:s3cret-pw@127.0.0.1:5432/hjem"
    settings = StoreSettings(kind="postgresql", postgresql=_settings(dsn))
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in settings.model_dump_json()
    with pytest.raises(ValidationError, match="pool_min must not exceed pool_max"):
        PostgresSettings(dsn=SecretStr(dsn), pool_min=5, pool_max=2)


def test_env_gives_the_dsn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dsn = "postgresql://hub:from-env@db.example:5432/hjem"
    monkeypatch.setenv("HJEM_HUB_STORE__KIND", "postgresql")
    monkeypatch.setenv("HJEM_HUB_STORE__POSTGRESQL__DSN", dsn)
    settings = HubSettings(database=tmp_path / "hub.sqlite3")
    assert settings.store.kind == "postgresql"
    assert settings.store.postgresql.dsn.get_secret_value() == dsn


def test_a_refused_login_names_the_server_and_not_the_password(
    postgres_cluster: PostgresCluster, postgres_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = postgres_dsn.replace(postgres_cluster.password, "wrong-secret-pw")
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as refused:
        PostgresStore.open(_settings(wrong))
    message = str(refused.value)
    assert "password authentication failed" in message
    assert f"open 127.0.0.1:{postgres_cluster.port}/test_" in message
    assert "wrong-secret-pw" not in message
    assert "wrong-secret-pw" not in caplog.text


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_nothing_is_acknowledged_while_postgresql_is_stopped(
    broker: Mosquitto, tmp_path: Path
) -> None:
    cluster = own_cluster()  # stopped by this test: not the session's
    try:
        dsn = cluster.create_database("hub")
        settings = settings_for(broker, tmp_path).model_copy(
            update={"store": StoreSettings(kind="postgresql", postgresql=_settings(dsn))}
        )
        pub = Client(broker, "gw-1-client")
        async with Hub(settings) as hub:
            pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 10))
            await eventually(lambda: hub.store.count() == 10, what="first batch stored")  # type: ignore[attr-defined]
            cluster.stop("immediate")
            pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 10, 10))
            await eventually(lambda: hub.health.fault is not None, what="store fault")
            cluster.start()
            await eventually(lambda: hub.health.fault is None, timeout=60, what="fault over")
            await eventually(  # 2, not 3: the failed attempt was rolled back
                lambda: hub.ledger.counters().get("obs_messages_received") == 2, what="retried"
            )
            assert set(hub.store.ids()) == expected_ids("gw-1", 0, 20)  # type: ignore[attr-defined]
            assert hub.ledger.counters()["observations_stored"] == 20
        pub.close()
    finally:
        cluster.remove()


def test_two_nodes_writing_at_once_feed_a_cursor_that_misses_nothing(postgres_dsn: str) -> None:
    """Two hub nodes write at the same time while a consumer reads the numbered feed from its
    cursor: it gets every observation exactly once (a number is taken under a lock held until
    the commit, so no smaller number commits after a larger one is seen)."""
    nodes = [PostgresStore.open(_settings(postgres_dsn)) for _ in range(3)]
    reader = nodes.pop()
    written: list[str] = []

    def write(node: PostgresStore, first: int) -> None:
        for start in range(first, first + 400, 10):
            items = [temp(start + i, "36.5") for i in range(10)]
            node.write(items)
            written.extend(item.id for item in items)

    threads = [
        threading.Thread(target=write, args=(node, 5000 * k)) for k, node in enumerate(nodes)
    ]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor = 0
    while any(thread.is_alive() for thread in threads) or cursor < reader.last_stored():
        page = reader.stored_since(cursor, 7)
        if page:
            cursor = page[-1][0]
            seen.extend(item.id for _, item in page)
    for thread in threads:
        thread.join()
    seen.extend(item.id for _, item in reader.stored_since(cursor, 10_000))
    for store in (*nodes, reader):
        store.close()
    assert len(written) == 800
    assert sorted(seen) == sorted(written)
