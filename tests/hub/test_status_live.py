"""Never silently blind (issue 13): each degraded state of a real hub (real Mosquitto with the
shipped configuration, SQLite file, alert engine) appears in its status model and, where it
matters for readiness, in ``/readyz``; and how long each takes to appear (written to
``test-artifacts/status-timings.txt``). The broker-down case is measured in a real browser
(tests/hub/web/test_status_banner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hjem.mosquitto import free_port
from hub.alerts.settings import AlertSettings
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.service import Hub, HubEvent, StoredBatch
from hub.status.core import Reason
from hub.status.settings import StatusSettings
from schemas.models import GatewayStatus, Observation, StatusKind, encode
from tests.hub.helpers import Client, alert_feed_started
from tests.support.browser import RULES, batch_of, observation, seed_registry, status_payload
from tests.support.deploy import SecureBroker, start_secure_broker
from tests.support.hub_db import HubDatabases

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.asyncio]

USERS = {"hub": "hub-secret", "gw-a": "gw-a-secret"}


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield broker
    finally:
        broker.broker.stop()


@pytest.fixture
def gw(secure: SecureBroker) -> Iterator[Client]:
    """The gateway's MQTT client, closed however the test ends."""
    client = Client(secure.broker, "gw-a", username="gw-a", password="gw-a-secret")
    try:
        yield client
    finally:
        client.close()


def _settings(
    secure: SecureBroker,
    tmp_path: Path,
    *,
    status: StatusSettings,
    databases: HubDatabases | None = None,
    **alerts: object,
) -> HubSettings:
    """``databases``: the test's hub database on either engine (else a SQLite file)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    fields: dict[str, Any] = {
        "mqtt": MqttSettings(
            url=secure.broker.url, client_id="hub", username="hub", password="hub-secret"
        ),
        "http": HttpSettings(port=0),
        "ingest": IngestSettings(sqlite_synchronous="normal", gateway_timeout_s=2),
        "alerts": AlertSettings(rules_file=rules, mqtt=False, **alerts),
        "status": status,
    }
    if databases is not None:
        return databases.settings(**fields)
    return HubSettings(database=tmp_path / "hub.sqlite3", **fields)


def _note(artifacts: Path, line: str) -> None:
    with (artifacts / "status-timings.txt").open("a", encoding="utf-8") as out:
        out.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")
    print(line)


def _has(hub: Hub, code: str, organisation: str | None = None) -> Callable[[], Reason | None]:
    def check() -> Reason | None:
        for reason in hub.status.update().reasons:
            if reason.code == code and reason.organisation == organisation:
                return reason
        return None

    return check


async def _within(check: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds until ``check()`` is truthy (polled every 0.05 s)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def _reading(client: Client, value: str, tag: str) -> None:
    client.publish("hjem/v1/gw-a/obs", batch_of("gw-a", [_obs(value)], tag))


async def test_store_lock_ingest_lag_backlog_and_a_stopped_engine(
    secure: SecureBroker, gw: Client, tmp_path: Path, artifacts_dir: Path
) -> None:
    status = StatusSettings(ingest_lag_s=2, backlog_messages=3)
    settings = _settings(secure, tmp_path, status=status)
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"max_batch_messages": 1})}
    )
    async with Hub(settings) as hub:
        seed_registry(hub.registry, datetime.now(UTC))
        ready = f"http://127.0.0.1:{hub.http_port}/readyz"
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(ready)).status_code == 200
            assert hub.status.update().hub_wide == ()  # (never heard from: offline after 2 s)

            with contextlib.closing(
                sqlite3.connect(hub.settings.database, isolation_level=None, timeout=10)
            ) as locker:
                locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                idle = await _within(_has(hub, "store_fault"), 15, "store fault of an idle hub")
                reply = await http.get(ready)
                assert reply.status_code == 503
                assert [r["code"] for r in reply.json()["reasons"]] == ["store_fault"]
                assert "locked" in reply.json()["reasons"][0]["detail"]
                locker.execute("ROLLBACK")
            released = time.monotonic()
            await _within(lambda: not _has(hub, "store_fault")(), 20, "store fault over")
            store_back = time.monotonic() - released
            assert (await http.get(ready)).status_code == 200

            lag, backlog = await _held_commits(hub, gw, http, ready)

            assert hub.alerts is not None
            tick = next(t for t in hub.alerts._tasks if t.get_name() == "alerts-tick")
            tick.cancel()  # the alert engine's timer stops
            stopped = await _within(_has(hub, "engine_stopped"), 5, "engine stopped")
            reply = await http.get(ready)
            assert reply.status_code == 503
            assert [r["code"] for r in reply.json()["reasons"]] == ["engine_stopped"]
    _note(artifacts_dir, f"store not writable (idle hub): {idle:.1f} s after the lock")
    _note(artifacts_dir, f"store writable again: {store_back:.1f} s after the lock ended")
    _note(
        artifacts_dir,
        f"ingest lag > {status.ingest_lag_s:g} s: {lag:.1f} s,"
        f" backlog > {status.backlog_messages}: {backlog:.1f} s after the messages",
    )
    _note(artifacts_dir, f"alert engine stopped: {stopped:.2f} s")


async def _held_commits(
    hub: Hub, gw: Client, http: httpx.AsyncClient, ready: str
) -> tuple[float, float]:
    """One message is stored and its listeners hold the ingest loop; nine more arrive
    meanwhile. The backlog is every message received and not yet stored (nine), whether or
    not the ingest loop reads; the lag shows once the oldest waits ``ingest_lag_s``.
    Returns how long after the nine each took (seconds)."""
    hold = _Hold()
    remove = hub.add_listener(hold.listener)
    try:
        first, *rest = [
            ("hjem/v1/gw-a/obs", batch_of("gw-a", [_obs(f"36.{i}")], f"slow-{i}"))
            for i in range(10)
        ]
        await asyncio.to_thread(gw.publish_many, [first])
        await _within(lambda: hold.stored, 30, "the first commit")
        assert hold.stored == 1  # and its listeners hold the ingest loop
        await asyncio.to_thread(gw.publish_many, rest)  # the broker has them all
        sent = time.monotonic()

        def all_waiting() -> Reason | None:
            reason = _has(hub, "backlog")()
            return reason if reason is not None and reason.values["count"] == len(rest) else None

        await _within(all_waiting, 30, f"a backlog of {len(rest)}")
        backlog = time.monotonic() - sent
        await _within(_has(hub, "ingest_lag"), 30, "ingest lag")
        lag = time.monotonic() - sent
        assert (await http.get(ready)).status_code == 200  # late, not unready
        hold.release.set()
        await _within(lambda: not _has(hub, "ingest_lag")(), 30, "lag over")
        await _within(lambda: not _has(hub, "backlog")(), 30, "backlog over")
        await _within(lambda: hold.stored == 1 + len(rest), 30, "every message stored")
        assert hub.mqtt is not None
        assert hub.mqtt.backlog == 0
        return lag, backlog
    finally:
        hold.release.set()
        remove()


class _Hold:
    """A post-commit listener that holds the ingest loop after the first stored batch until
    ``release`` is set; ``stored`` counts the observations stored meanwhile."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.stored = 0

    async def listener(self, event: HubEvent) -> None:
        if isinstance(event, StoredBatch):
            self.stored += len(event.observations)
            await self.release.wait()


def _obs(value: str) -> Observation:
    return observation("body_temperature", value, datetime.now(UTC), "dev-thermo", "gw-a")


async def test_gateways_offline_no_data_and_failing_notifications(
    secure: SecureBroker, gw: Client, tmp_path: Path, artifacts_dir: Path, hub_dbs: HubDatabases
) -> None:
    """On SQLite and PostgreSQL: gateways, organisations and the outbox are SQL queries."""
    status = StatusSettings(no_data_minutes=0.05)  # 3 s
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    alerts = {"webhook_url": closed, "webhook_secret": "s3cret", "retry_base_seconds": 1.0}
    settings = _settings(secure, tmp_path, status=status, databases=hub_dbs, **alerts)
    async with Hub(settings) as hub:
        seed_registry(hub.registry, datetime.now(UTC))
        await _within(lambda: alert_feed_started(hub), 15, "the alert engine's feed")
        assert hub.status.probe_fault is None  # the store took the status probe's write
        await asyncio.to_thread(
            gw.publish, "hjem/v1/gw-a/status", status_payload("gw-a", datetime.now(UTC))
        )
        await _within(lambda: (s := hub.gateways.get("gw-a")) is not None and s.online, 10, "birth")
        assert _has(hub, "gateways_offline", "org-a")() is None

        await asyncio.to_thread(_reading, gw, "39.4", "fever")  # raises the fever alert
        sent = time.monotonic()
        failing = await _within(_has(hub, "outbox_failing"), 15, "notification failing")
        await _within(_has(hub, "no_data", "org-a"), 15, "no data")
        silent_total = time.monotonic() - sent
        await _within(_has(hub, "gateways_offline", "org-a"), 15, "gateway timeout")
        timeout_total = time.monotonic() - sent
        reason = _has(hub, "gateways_offline", "org-a")()
        assert reason is not None
        assert reason.values["names"] == "gw-a"
        async with httpx.AsyncClient(timeout=5) as http:  # per organisation: still ready
            assert (await http.get(f"http://127.0.0.1:{hub.http_port}/readyz")).status_code == 200

        await asyncio.to_thread(
            gw.publish, "hjem/v1/gw-a/status", status_payload("gw-a", datetime.now(UTC))
        )
        await _within(lambda: _has(hub, "gateways_offline", "org-a")() is None, 10, "back online")
        death = GatewayStatus(
            publisher="gw-a", kind=StatusKind.DEATH, online=False, time=datetime.now(UTC)
        )
        await asyncio.to_thread(gw.publish, "hjem/v1/gw-a/status", encode(death))
        died = await _within(_has(hub, "gateways_offline", "org-a"), 10, "gateway death")
    _note(artifacts_dir, f"notification delivery failing: {failing:.1f} s after the reading")
    _note(
        artifacts_dir,
        f"no data for {status.no_data_minutes:g} min: {silent_total:.1f} s after the last reading",
    )
    _note(
        artifacts_dir,
        f"gateway offline by timeout (2 s): {timeout_total:.1f} s after its last message",
    )
    _note(artifacts_dir, f"gateway offline by its death message (Last Will): {died:.2f} s")
