"""PostgreSQL stopped (``pg_ctl stop -m immediate``: SIGQUIT to the postmaster) for 30 s while
a gateway keeps publishing to a running hub, then started again.

Meanwhile the hub acknowledges nothing (the broker keeps every message for it: its backlog
of received, uncommitted messages stays and nothing is stored), its status names the storage
fault (``/readyz`` 503 and the board's banner), and the dashboard keeps answering. After the
restart the relational connection and the store's pool reconnect by themselves and every
observation published is stored exactly once: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from hjem.mosquitto import Mosquitto
from hjem.postgres import PostgresCluster
from hub.auth import Role, UserStore
from hub.config import HttpSettings, PostgresSettings, StoreSettings
from hub.service import Hub
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, batch, expected_ids, settings_for
from tests.hub.web.conftest import csrf_of

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgresql, pytest.mark.slow, pytest.mark.asyncio]

OUTAGE_S = 30.0
"""How long PostgreSQL stays down (the issue's test)."""
PER_MESSAGE = 10
RATE_HZ = 10.0
PASSWORD = "korrekt-hest-batteri-42"


@pytest.fixture
def cluster(own_postgres: PostgresCluster) -> PostgresCluster:
    """Stopped and started by these tests: not the session's cluster."""
    return own_postgres


class Gateway:
    """Publishes a batch of ``PER_MESSAGE`` readings every 1/RATE_HZ s (QoS 1) until stopped."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = Client(broker, "gw-1-client")
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1 / RATE_HZ) and self.sent < 2_000:
            self.client.publish(
                "hjem/v1/gw-1/obs", batch("gw-1", self.sent * PER_MESSAGE, PER_MESSAGE)
            )
            self.sent += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        self.client.close()
        return self.sent


def _stored(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [str(r[0]) for r in conn.execute("SELECT id FROM observation")]


async def _sign_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/sign-in")
    form = {"username": "ops", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    assert (await http.post("/sign-in", data=form)).status_code == 303
    assert (await http.get("/board")).status_code == 200  # the board open before the outage


async def test_postgresql_down_30_s_under_load_nothing_acknowledged_lost_or_twice(
    broker: Mosquitto, tmp_path: Path, cluster: PostgresCluster
) -> None:
    dsn = cluster.create_database("hub")
    store = StoreSettings(kind="postgresql", postgresql=PostgresSettings(dsn=SecretStr(dsn)))
    settings = settings_for(broker, tmp_path).model_copy(
        update={"store": store, "http": HttpSettings(port=0)}
    )
    async with Hub(settings) as hub:
        hub.registry.add_organisation("org-a", "Kommune A")
        hub.registry.add_publisher("gw-1", "gateway")
        UserStore(hub.conn, hub.clock).create_user("ops", PASSWORD, Role.ADMIN, None)
        base = f"http://127.0.0.1:{hub.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            await _sign_in(http)
            gateway = Gateway(broker)
            try:
                await eventually(lambda: len(_stored(dsn)) >= 50, what="readings stored")
                await _outage(hub, http, cluster)
            finally:
                sent = gateway.stop()
            expected = expected_ids("gw-1", 0, sent * PER_MESSAGE)
            await eventually(
                lambda: len(_stored(dsn)) >= len(expected), timeout=120, what="all stored"
            )
            stored = _stored(dsn)
            assert len(stored) == len(set(stored)) == len(expected)  # none twice
            assert set(stored) == expected  # none lost
            await eventually(lambda: hub.health.fault is None, what="the fault over")
            assert "store_fault" not in (await http.get("/board/status")).text


async def _outage(hub: Hub, http: httpx.AsyncClient, cluster: PostgresCluster) -> None:
    cluster.stop("immediate")  # pg_ctl stop -m immediate
    down = time.monotonic()
    ready = await _wait_reply(http, "/readyz", lambda r: r.status_code == 503)
    assert "store_fault" in [reason["code"] for reason in ready.json()["reasons"]]
    banner = await http.get("/board/status")
    assert banner.status_code == 200
    assert 'data-reason="store_fault"' in banner.text
    assert hub.mqtt is not None
    while time.monotonic() - down < OUTAGE_S:  # nothing acknowledged: the backlog stays
        await asyncio.sleep(1.0)
        assert hub.mqtt.backlog > 0
        assert hub.health.fault is not None
    cluster.start()


async def _wait_reply(
    http: httpx.AsyncClient, path: str, done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        reply = await http.get(path)
        if done(reply) or time.monotonic() > deadline:
            return reply
        await asyncio.sleep(0.2)
