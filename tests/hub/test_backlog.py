"""A hub outage longer than Mosquitto's default queue: shipped broker config vs the default.

Mosquitto queues QoS 1 messages for an offline persistent session only up to
``max_queued_messages`` (default 1000) and silently drops the rest. The shipped
``deploy/mosquitto/mosquitto.conf`` sizes it; this test runs that very file (its loopback
rendering, with its password file and ACL) and a broker with Mosquitto's defaults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto, free_port
from hub.config import HubSettings, MqttSettings
from hub.service import Hub
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, batch, expected_ids, settings_for
from tests.support.deploy import start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.asyncio]

BACKLOG = 2500


async def _outage(
    settings: HubSettings, publish: Client, also: tuple[str, bytes] | None = None
) -> set[str]:
    """Connect the hub once (persistent session), stop it, publish a backlog, restart it."""
    async with Hub(settings):
        pass
    publish.publish_many(
        [("hjem/v1/gw-1/obs", batch("gw-1", i, 1, device="backlog")) for i in range(BACKLOG)]
    )
    if also is not None:
        publish.publish(*also)
    async with Hub(settings) as hub:
        # Published after the restart, the marker arrives after everything the broker kept.
        publish.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 1, device="marker"))
        marker = expected_ids("gw-1", 0, 1, device="marker")
        await eventually(lambda: marker <= set(hub.store.ids()), timeout=60, what="the marker")  # type: ignore[attr-defined]
        return set(hub.store.ids()) - marker  # type: ignore[attr-defined]


async def test_mosquitto_default_queue_drops_the_backlog(tmp_path: Path) -> None:
    port = free_port()
    defaults = f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n"
    with Mosquitto(workdir=tmp_path / "mq", port=port, config_text=defaults) as broker:
        pub = Client(broker, "gw-1-client")
        stored = await _outage(settings_for(broker, tmp_path, client_id="hub-1"), pub)
        pub.close()
    print(f"Mosquitto defaults: {len(stored)} of {BACKLOG} backlog observations survived")
    assert len(stored) < BACKLOG
    assert len(stored) <= 1000 + 100  # the queue plus at most one in-flight window


async def test_shipped_broker_config_keeps_a_backlog_over_1000(tmp_path: Path) -> None:
    secure = start_secure_broker(tmp_path / "broker", {"hub": "hub-secret", "gw-1": "gw-secret"})
    try:
        broker = secure.broker
        settings = settings_for(broker, tmp_path, client_id="hub-1").model_copy(
            update={
                "mqtt": MqttSettings(
                    url=broker.url, client_id="hub-1", username="hub", password="hub-secret"
                )
            }
        )
        pub = Client(broker, "gw-1", username="gw-1", password="gw-secret")
        # The ACL binds topics to the MQTT username: gw-1 cannot publish as gw-2 (the broker
        # drops it, so it is not among the stored observations below).
        impostor = ("hjem/v1/gw-2/obs", batch("gw-2", 0, 1, device="impostor"))
        stored = await _outage(settings, pub, impostor)
        pub.close()
    finally:
        broker.stop()
    print(f"shipped config: {len(stored)} of {BACKLOG} backlog observations survived")
    assert stored == expected_ids("gw-1", 0, BACKLOG, device="backlog")
