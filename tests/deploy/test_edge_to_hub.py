"""A production deployment in miniature: the edge agent (virtual radio) publishes over mutual
TLS to a broker running the shipped configuration, and the hub (user "hub", shared
subscription) stores its observations and follows its status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from edge.agent import Agent
from edge.config import parse_config
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.registry.gateways import GatewayChange
from hub.service import Hub, HubEvent, StoredBatch
from tests.hub.helpers import NO_ALERTS
from tests.support.deploy import SecureBroker, start_secure_broker
from tests.support.edge import agent_config_dict

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio, pytest.mark.slow]

USERS = {"hub": "hub-secret-123", "gw-home-1": "gateway-secret-1"}


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield running
    finally:
        running.broker.stop()


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_edge_over_mtls_reaches_the_hub(shipped: SecureBroker, tmp_path: Path) -> None:
    certs = shipped.certs
    edge_config = parse_config(
        agent_config_dict(
            tmp_path / "edge",
            shipped.tls_port,
            gateway_id="gw-home-1",
            mqtt={
                "url": f"mqtts://127.0.0.1:{shipped.tls_port}",
                "password": USERS["gw-home-1"],
                "ca_file": str(certs / "ca.crt"),
                "cert_file": str(certs / "clients" / "gw-home-1.crt"),
                "key_file": str(certs / "clients" / "gw-home-1.key"),
            },
        )
    )
    hub_settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=MqttSettings(
            url=f"mqtt://127.0.0.1:{shipped.plain_port}",
            username="hub",
            password=SecretStr(USERS["hub"]),
            client_id="hjem-hub-1",
            shared_group="hjem-hub",
        ),
        http=HttpSettings(enabled=False),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=NO_ALERTS,
    )
    publishers: set[str] = set()
    stored = 0
    changes: list[GatewayChange] = []

    async def record(event: HubEvent) -> None:
        nonlocal stored
        if isinstance(event, StoredBatch):
            stored += len(event.observations)
            publishers.update(o.publisher for o in event.observations)
        else:
            changes.append(event)

    async with Hub(hub_settings) as hub:
        hub.add_listener(record)
        async with Agent(edge_config):
            await until(lambda: stored >= 20, "20 observations stored by the hub")
            await until(lambda: any(c.online for c in changes), "the gateway online")
        # an orderly stop publishes the death status: the hub marks the gateway offline
        await until(lambda: not changes[-1].online, "the gateway offline")
        state = hub.gateways.get("gw-home-1")
    assert publishers == {"gw-home-1"}
    assert state is not None
    assert (state.online, state.kind) == (False, "death")
