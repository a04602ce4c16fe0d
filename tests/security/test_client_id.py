"""Issue 15, finding 5: no broker user can take over another client's id.

MQTT gives a client id to one connection at a time: a second connection with the same id
closes the first and, with a clean start, discards its session (the hub's queue and
subscriptions). The shipped broker configuration binds the client id to the login
(``use_username_as_clientid``), so a gateway that asks for the hub's or another gateway's id
gets a session of its own. Real Mosquitto with the shipped configuration, a real hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.admin.provision import render_acl
from hub.service import Hub
from tests.hub.conftest import eventually
from tests.security.mqtt_fleet import shipped_hub_settings
from tests.support.deploy import Client, SecureBroker, connect, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

USERS = {"hub": "hub-secret-0123", "gw-a": "gateway-a-secret", "gw-b": "gateway-b-secret"}


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield running
    finally:
        running.broker.stop()


def login(secure: SecureBroker, username: str, client_id: str) -> Client:
    result = connect(
        secure.plain_port, client_id, username=username, password=secure.passwords[username]
    )
    assert result.client is not None, result.reason
    return result.client


def reading(publisher: str, index: int) -> bytes:
    from tests.hub.helpers import batch

    return batch(publisher, index, 1, device=f"{publisher}-dev", message_id=f"{publisher}-{index}")


def ids(publisher: str, start: int, count: int) -> set[str]:
    from tests.hub.helpers import expected_ids

    return expected_ids(publisher, start, count, device=f"{publisher}-dev")


async def test_a_gateway_using_the_hubs_client_id_neither_kicks_the_hub_nor_ends_its_session(
    secure: SecureBroker, tmp_path: Path
) -> None:
    settings = shipped_hub_settings(secure, tmp_path / "hub.sqlite3", username="hub")
    hub_ids = {settings.mqtt.client_id, "hub"}  # what it asks for, and its login
    async with Hub(settings) as hub:
        assert hub.mqtt is not None
        generation = hub.mqtt.generation
        impostors = [
            login(secure, user, client_id)
            for user, client_id in zip(("gw-a", "gw-b"), sorted(hub_ids), strict=True)
        ]
        await asyncio.sleep(1.5)  # a taken-over hub would reconnect within its 1 s delay
        assert hub.mqtt.generation == generation, "the hub's connection was taken over"
        assert hub.mqtt.connected
        for impostor in impostors:
            assert not impostor.disconnected.is_set()
            impostor.close()
    # The hub is down; a clean start with its client id would discard its persistent session
    # (subscription and queue). It must still be there.
    for client_id in sorted(hub_ids):
        login(secure, "gw-a", client_id).close()
    gw_b = login(secure, "gw-b", "gw-b")
    for index in range(20):
        gw_b.publish("hjem/v1/gw-b/obs", reading("gw-b", index))
    gw_b.close()
    async with Hub(settings) as hub:
        store = hub.store
        backlog = ids("gw-b", 0, 20)
        await eventually(lambda: backlog <= set(store.ids()), what="the backlog")  # type: ignore[attr-defined]


async def test_a_gateway_using_another_gateways_client_id_does_not_kick_it_off(
    secure: SecureBroker,
) -> None:
    gw_a = login(secure, "gw-a", "hjem-edge-gw-a")
    watcher = login(secure, "hub", "watcher")
    assert [rc.value for rc in watcher.subscribe("hjem/v1/gw-a/obs")] == [1]
    for _ in range(5):  # repeated takeovers
        impostor = login(secure, "gw-b", "hjem-edge-gw-a")
        impostor.close()
    impostor = login(secure, "gw-b", "gw-a")  # the victim's username as client id
    await asyncio.sleep(0.5)
    assert not gw_a.disconnected.is_set(), f"gw-a was disconnected: {gw_a.disconnect_reason}"
    gw_a.publish("hjem/v1/gw-a/obs", reading("gw-a", 0))
    assert watcher.next_message().topic == "hjem/v1/gw-a/obs"
    assert not impostor.disconnected.is_set()
    for client in (impostor, gw_a, watcher):
        client.close()


async def test_hub_processes_with_logins_of_their_own_share_the_load_without_kicking(
    tmp_path: Path,
) -> None:
    """Several hub processes: each its own login (hub-<node>), rendered into the ACL."""
    users = {"hub-a": "hub-a-secret-01", "hub-b": "hub-b-secret-01", "gw-a": "gateway-a-secret"}
    secure = start_secure_broker(
        tmp_path / "broker", users, acl_text=render_acl(["hub-a", "hub-b"])
    )
    try:
        nodes = [
            # the same client_id, as in a copied configuration: the login names the session
            shipped_hub_settings(
                secure, tmp_path / f"{node}.sqlite3", username=node, shared_group="hubs"
            )
            for node in ("hub-a", "hub-b")
        ]
        async with Hub(nodes[0]) as hub_a, Hub(nodes[1]) as hub_b:
            await asyncio.sleep(1)  # both subscribed
            gw_a = login(secure, "gw-a", "gw-a")
            for index in range(100):
                gw_a.publish("hjem/v1/gw-a/obs", reading("gw-a", index))
            gw_a.close()
            stores = [hub_a.store, hub_b.store]

            def everything() -> bool:
                return ids("gw-a", 0, 100) <= {i for s in stores for i in s.ids()}  # type: ignore[attr-defined]

            await eventually(everything, what="all readings over both hub processes")
            for hub in (hub_a, hub_b):
                assert hub.mqtt is not None
                assert hub.mqtt.generation == 1, "a hub process was disconnected"
            assert all(store.ids() for store in stores)  # type: ignore[attr-defined]
    finally:
        secure.broker.stop()
