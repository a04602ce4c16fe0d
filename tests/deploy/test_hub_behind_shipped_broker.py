"""The hub on the shipped broker configuration: its ACL lets the hub do its work, and the hub
rejects a batch whose publisher is not the sender (the broker only checks the topic)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings, TlsSettings
from hub.service import Hub, HubEvent, StoredBatch
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, GatewayStatus, Source, StatusKind, encode
from tests.hub.helpers import NO_ALERTS
from tests.support.deploy import (
    Client,
    Received,
    SecureBroker,
    TlsFiles,
    connect,
    start_secure_broker,
)

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

USERS = {"hub": "hub-secret-123", "gw-a": "gateway-a-secret", "gw-b": "gateway-b-secret"}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("hub-broker"), USERS)
    try:
        yield running
    finally:
        running.broker.stop()


def batch_bytes(publisher: str, message_id: str, device: str = "thermo-1") -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    obs = make_observation(
        "body_temperature",
        source=Source(publisher=publisher, device=DeviceInfo(id=device)),
        effective=now - timedelta(seconds=5),
        value="36.8",
    )
    return encode(Batch(message_id=message_id, publisher=publisher, sent=now, observations=[obs]))


def birth(publisher: str) -> bytes:
    now = datetime.now(UTC)
    return encode(GatewayStatus(publisher=publisher, kind=StatusKind.BIRTH, online=True, time=now))


class Events:
    """The hub's stored batches."""

    def __init__(self) -> None:
        self.stored: list[StoredBatch] = []

    async def __call__(self, event: HubEvent) -> None:
        if isinstance(event, StoredBatch):
            self.stored.append(event)


async def subscribed(hub: Hub, publisher: str) -> None:
    """The hub confirms only its CONNACK, not its SUBACK. So the gateway has published a
    retained birth status first: once the hub has it, the hub's subscriptions are in place
    and nothing published after can race them."""

    def online() -> bool:
        state = hub.gateways.get(publisher)
        return state is not None and state.online

    await _until(online)


def gateway(shipped: SecureBroker, username: str, *, tls: bool = False) -> Client:
    result = connect(
        shipped.tls_port if tls else shipped.plain_port,
        f"{username}-{'tls' if tls else 'plain'}",
        username=username,
        password=shipped.passwords[username],
        tls=TlsFiles.for_client(shipped.certs, username) if tls else None,
    )
    assert result.client is not None, result.reason
    return result.client


def hub_settings(shipped: SecureBroker, tmp_path: Path, *, tls: bool) -> HubSettings:
    if tls:
        mqtt = MqttSettings(
            url=f"mqtts://127.0.0.1:{shipped.tls_port}",
            tls=TlsSettings(
                ca_file=shipped.certs / "ca.crt",
                cert_file=shipped.certs / "clients" / "hub.crt",
                key_file=shipped.certs / "clients" / "hub.key",
            ),
        )
    else:
        mqtt = MqttSettings(url=f"mqtt://127.0.0.1:{shipped.plain_port}")
    return HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=mqtt.model_copy(
            update={
                "username": "hub",
                "password": SecretStr(shipped.passwords["hub"]),
                "client_id": f"hjem-hub-{'tls' if tls else 'plain'}",
                # One group per test: a stopped hub's persistent session stays in its group
                # and keeps receiving its share of the messages until the session expires.
                "shared_group": f"hjem-hub-{'tls' if tls else 'plain'}",
            }
        ),
        http=HttpSettings(enabled=False),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=NO_ALERTS,
    )


async def test_hub_rejects_a_batch_naming_another_publisher(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    gw_a = gateway(shipped, "gw-a")
    try:
        assert [rc.value for rc in gw_a.subscribe("hjem/v1/gw-a/errors")] == [1]
        gw_a.publish("hjem/v1/gw-a/status", birth("gw-a"), retain=True)
        async with Hub(hub_settings(shipped, tmp_path, tls=False)) as hub:
            await subscribed(hub, "gw-a")
            # the ACL lets gw-a publish on its own topic; the payload claims to be gw-b
            gw_a.publish("hjem/v1/gw-a/obs", batch_bytes("gw-b", "forged-1"))
            got = await _next(gw_a)
        rejection = json.loads(got.payload)
        assert got.topic == "hjem/v1/gw-a/errors"
        assert rejection["message_id"] == "forged-1"
        assert rejection["publisher"] == "gw-a"
        assert [e["path"] for e in rejection["errors"]] == ["$.publisher"]
    finally:
        gw_a.close()


async def test_hub_over_mtls_stores_a_gateway_batch_sent_over_mtls(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    events = Events()
    gw_b = gateway(shipped, "gw-b", tls=True)
    try:
        gw_b.publish("hjem/v1/gw-b/status", birth("gw-b"), retain=True)
        async with Hub(hub_settings(shipped, tmp_path, tls=True)) as hub:
            hub.add_listener(events)
            await subscribed(hub, "gw-b")
            gw_b.publish("hjem/v1/gw-b/obs", batch_bytes("gw-b", "good-1", "thermo-b"))
            await _until(lambda: bool(events.stored))
        stored = events.stored
        assert [(o.publisher, o.observation.source.device.id) for o in stored[0].observations] == [
            ("gw-b", "thermo-b")
        ]
    finally:
        gw_b.close()


async def _next(client: Client) -> Received:
    return await asyncio.to_thread(client.next_message, 10.0)


async def _until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the hub"
        await asyncio.sleep(0.02)
