"""Issue 15, finding 6: a store fault must neither crash the hub nor freeze its dashboard.

Another process holds the SQLite write lock (``BEGIN IMMEDIATE``) for longer than the old
10 s busy timeout while gateways publish; later the database is full (``max_page_count``).
Real Mosquitto with the shipped configuration, a real hub (in this process, and as a child
process that is killed during the lock). Expected: the API answers within a second
meanwhile, the hub reports the fault and retries, nothing is acknowledged before its commit
(a hub killed during the lock loses nothing), and afterwards every reading is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.config import HubSettings, MqttSettings
from hub.service import Hub
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, batch, expected_ids, settings_for
from tests.hub.processes import HubProcess, table_counts, write_config
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.asyncio]

USERS = {"hub": "hub-secret", "gw-1": "gw-secret"}
LOCK_S = 13.0
"""Longer than the 10 s busy timeout the hub used to wait inside its event loop."""


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield broker
    finally:
        broker.broker.stop()


def _settings(secure: SecureBroker, tmp_path: Path) -> HubSettings:
    broker = secure.broker
    mqtt = MqttSettings(url=broker.url, client_id="hub", username="hub", password="hub-secret")
    return settings_for(broker, tmp_path).model_copy(update={"mqtt": mqtt})


def _publisher(secure: SecureBroker, subscribe: str | None = None) -> Client:
    return Client(secure.broker, "gw-1", username="gw-1", password="gw-secret", subscribe=subscribe)


def _publish_during(pub: Client, first: int, count: int, seconds: float) -> threading.Thread:
    """Publish ``count`` one-reading batches spread over ``seconds`` (in a thread)."""

    def run() -> None:
        for i in range(first, first + count):
            pub.publish("hjem/v1/gw-1/obs", batch("gw-1", i, 1, "locked", f"locked-{i}"))
            time.sleep(seconds / count)

    thread = threading.Thread(target=run, name="publisher")
    thread.start()
    return thread


def _lock(database: Path) -> sqlite3.Connection:
    """Another connection that takes the database's write lock and keeps it."""
    locker = sqlite3.connect(database, isolation_level=None, timeout=10)
    locker.execute("BEGIN IMMEDIATE")
    return locker


def _stored(database: Path, device: str) -> tuple[int, int]:
    """(rows, distinct ids) stored for ``device``."""
    conn = sqlite3.connect(database, timeout=10)
    try:
        row = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM observation WHERE device_id = ?", (device,)
        ).fetchone()
        return int(row[0]), int(row[1])
    finally:
        conn.close()


async def _latencies(url: str, seconds: float) -> list[float]:
    """Ask ``url`` every 0.25 s for ``seconds``; the time each answer took."""
    took: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.monotonic()
            response = await client.get(url)
            took.append(time.monotonic() - start)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.25)
    return took


async def test_a_long_write_lock_pauses_ingest_and_the_api_keeps_serving(
    secure: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.store_health")
    pub = _publisher(secure)
    async with Hub(_settings(secure, tmp_path)) as hub:
        database = hub.settings.database
        pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 1, device="warm"))
        await eventually(lambda: _stored(database, "warm")[0] == 1, what="the first reading")
        locker = _lock(database)
        publishing = _publish_during(pub, 0, 40, LOCK_S - 3)
        url = f"http://127.0.0.1:{hub.http_port}/healthz"
        took = await _latencies(url, LOCK_S)
        async with httpx.AsyncClient() as client:
            during = (await client.get(url)).json()
        await asyncio.to_thread(publishing.join)
        assert _stored(database, "locked") == (0, 0), "stored through another's write lock?"
        locker.execute("ROLLBACK")
        locker.close()
        await eventually(lambda: _stored(database, "locked")[0] >= 40, what="all 40 readings")
        await asyncio.sleep(1)
        assert _stored(database, "locked") == (40, 40)
        assert hub.health.ok
        assert hub.health.faults == 1
    pub.close()
    print(f"API answers during a {LOCK_S:.0f} s lock: max {max(took):.3f} s over {len(took)}")
    assert max(took) < 1.0, f"the API froze for {max(took):.1f} s during the lock"
    assert during["store_fault"] is not None
    assert "locked" in during["store_fault"]["detail"]
    assert during["store_fault"]["attempts"] >= 3
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.store_health"]
    assert len([m for m in lines if m.startswith("store fault:")]) == 1, lines
    assert len([m for m in lines if m.startswith("store fault over")]) == 1, lines


async def test_a_hub_killed_during_a_long_lock_loses_nothing(
    secure: SecureBroker, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    config = write_config(
        tmp_path / "hub.toml",
        database,
        secure.broker.url,
        "hub",
        username="hub",
        password="hub-secret",
    )
    process = HubProcess(config, tmp_path / "hub.log").start()
    pub = _publisher(secure)
    try:
        pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 1, device="warm"))
        await eventually(lambda: _stored(database, "warm")[0] == 1, what="the first reading")
        locker = _lock(database)
        publishing = _publish_during(pub, 0, 30, 2)
        await asyncio.sleep(LOCK_S)
        await asyncio.to_thread(publishing.join)
        assert process.proc is not None
        assert process.proc.poll() is None, process.log.read_text()[-3000:]
        assert "store fault: commit" in process.log.read_text()
        process.kill()  # with everything received and nothing committed
        locker.execute("ROLLBACK")
        locker.close()
        assert _stored(database, "locked") == (0, 0)
        process.start()
        await eventually(lambda: _stored(database, "locked")[0] >= 30, what="all 30 readings")
        await asyncio.sleep(1)
        assert _stored(database, "locked") == (30, 30)
        assert table_counts(database)["distinct"] == 31
    finally:
        pub.close()
        process.stop()


def _replies(pub: Client) -> list[dict[str, object]]:
    """The Rejections received (a Notice tells of the unassigned device 'warm' at once)."""
    return [m for m in pub.json_messages() if "errors" in m]


async def test_a_full_database_pauses_ingest_until_there_is_room(
    secure: SecureBroker, tmp_path: Path
) -> None:
    pub = _publisher(secure, subscribe="hjem/v1/gw-1/errors")
    async with Hub(_settings(secure, tmp_path)) as hub:
        database = hub.settings.database
        pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 1, device="warm"))
        await eventually(lambda: _stored(database, "warm")[0] == 1, what="the first reading")
        pages = hub.conn.execute("PRAGMA page_count").fetchone()[0]
        hub.conn.execute(f"PRAGMA max_page_count = {pages}")
        # A message that is only a dead letter (no store write) and then real readings.
        pub.publish("hjem/v1/gw-1/obs", b'{"not": "a batch", "pad": "%s"}' % (b"x" * 100_000))
        await eventually(lambda: not hub.health.ok, what="the store fault")
        readings = [
            ("hjem/v1/gw-1/obs", batch("gw-1", i * 20, 20, "full", f"full-{i}")) for i in range(50)
        ]
        pub.publish_many(readings)
        await asyncio.sleep(2)
        fault = hub.health.fault
        assert fault is not None
        assert "full" in fault.detail, fault
        assert _stored(database, "full") == (0, 0)
        assert _replies(pub) == [], "a rejection replied before its commit"
        hub.conn.execute("PRAGMA max_page_count = 1073741823")
        want = expected_ids("gw-1", 0, 1000, device="full")
        await eventually(lambda: _stored(database, "full")[0] >= len(want), what="the readings")
        await eventually(lambda: len(_replies(pub)) == 1, what="the rejection")
        assert _stored(database, "full") == (len(want), len(want))
        assert hub.health.ok
        assert hub.health.faults == 1
    pub.close()
