"""Issue 15, finding 4: a broker restart must not lose readings the broker confirmed.

Mosquitto 2.0 does not persist shared subscriptions: after a restart the hub's session comes
back without ``$share/...``, and until a hub process subscribes again every PUBACK confirms a
message that no one receives. Real Mosquitto with the shipped configuration, a real hub with
the ``[mqtt]`` section of ``deploy/hub.example.toml``, two real edge gateways (publisher and
outbox) and a vendor publishing all the time; the broker restarts once with the hub running
and once while the hub is down (the hub starts after the broker). Afterwards every reading a
publisher counts as delivered is stored, exactly once.

Two hub set-ups: the shipped one (one hub process, a persistent non-shared subscription the
broker keeps across restarts, so even an MQTT 3.1.1 vendor is safe) and the scale-out one
(several processes on ``shared_group``; only MQTT 5 publishers are safe there, because they
see "No matching subscribers" and send again; the vendor here follows the vendor guide).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.config import HubSettings
from hub.service import Hub
from tests.hub.conftest import eventually
from tests.security.mqtt_fleet import EdgeGateway, Vendor, shipped_hub_settings
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.asyncio]

USERS = {
    "hub": "hub-secret-0123",
    "gw-a": "gateway-a-secret",
    "gw-b": "gateway-b-secret",
    "vendor-v": "vendor-v-secret",
}
DOWN_S = 0.5  # how long the broker is down


class Fleet:
    def __init__(self, secure: SecureBroker, workdir: Path, *, vendor_v5: bool) -> None:
        self.gateways = [EdgeGateway(secure, gw, workdir) for gw in ("gw-a", "gw-b")]
        self._secure = secure
        self._vendor_v5 = vendor_v5
        self.vendor: Vendor | None = None

    def start(self) -> None:
        for gateway in self.gateways:
            gateway.start()
        self.vendor = Vendor(self._secure, "vendor-v", v5=self._vendor_v5)

    async def stop_and_drain(self) -> set[str]:
        """Stop producing; wait until the outboxes are empty; return what was confirmed."""
        assert self.vendor is not None
        await asyncio.to_thread(self.vendor.close)
        for gateway in self.gateways:
            gateway.stop_producing()

        def empty() -> bool:
            return all(gateway.outbox.depth == 0 for gateway in self.gateways)

        await eventually(empty, timeout=60, what="empty outboxes")
        confirmed = set(self.vendor.confirmed)
        for gateway in self.gateways:
            confirmed |= gateway.confirmed()
            assert gateway.confirmed() == set(gateway.put)
        return confirmed

    async def close(self) -> None:
        if self.vendor is not None:
            await asyncio.to_thread(self.vendor.close)
        for gateway in self.gateways:
            await gateway.close()


def stored_ids(hub: Hub) -> list[str]:
    return list(hub.store.ids())  # type: ignore[attr-defined]


async def _check(hub: Hub, confirmed: set[str], label: str) -> None:
    def all_there() -> bool:
        return confirmed <= set(stored_ids(hub))

    try:
        await eventually(all_there, timeout=30, what="every confirmed reading")
    finally:
        lost = confirmed - set(stored_ids(hub))
        print(f"{label}: {len(lost)} of {len(confirmed)} confirmed readings lost")
    twice = [i for i, n in collections.Counter(stored_ids(hub)).items() if n > 1]
    assert lost == set()
    assert twice == []


Setup = Callable[[SecureBroker, Path], HubSettings]


def _shipped(secure: SecureBroker, tmp: Path) -> HubSettings:
    return shipped_hub_settings(secure, tmp / "hub.sqlite3", username="hub")


def _scale_out(secure: SecureBroker, tmp: Path) -> HubSettings:
    return shipped_hub_settings(secure, tmp / "hub.sqlite3", username="hub", shared_group="hubs")


SETUPS = [
    pytest.param(_shipped, False, id="shipped-hub-vendor-mqtt311"),
    pytest.param(_scale_out, True, id="shared-subscription-vendor-mqtt5"),
]


@pytest.mark.parametrize(("setup", "vendor_v5"), SETUPS)
async def test_broker_restart_with_the_hub_running(
    tmp_path: Path, setup: Setup, vendor_v5: bool
) -> None:
    secure = start_secure_broker(tmp_path / "broker", USERS)
    fleet = Fleet(secure, tmp_path, vendor_v5=vendor_v5)
    try:
        async with Hub(setup(secure, tmp_path)) as hub:
            fleet.start()
            await eventually(lambda: len(stored_ids(hub)) > 100, what="readings before")
            secure.broker.stop()
            await asyncio.sleep(DOWN_S)
            secure.broker.start()
            await asyncio.sleep(3)  # publishing goes on while the hub reconnects
            confirmed = await fleet.stop_and_drain()
            await _check(hub, confirmed, "hub running")
    finally:
        await fleet.close()
        secure.broker.stop()


@pytest.mark.parametrize(("setup", "vendor_v5"), SETUPS)
async def test_broker_restart_while_the_hub_is_down(
    tmp_path: Path, setup: Setup, vendor_v5: bool
) -> None:
    secure = start_secure_broker(tmp_path / "broker", USERS)
    fleet = Fleet(secure, tmp_path, vendor_v5=vendor_v5)
    settings = setup(secure, tmp_path)
    try:
        async with Hub(settings) as hub:  # the hub's persistent session exists
            fleet.start()
            await eventually(lambda: len(stored_ids(hub)) > 50, what="readings before")
        await asyncio.sleep(1)  # the hub is down; publishing goes on
        secure.broker.stop()
        await asyncio.sleep(DOWN_S)
        secure.broker.start()
        await asyncio.sleep(2)  # the broker is back, the hub is not
        async with Hub(settings) as hub:
            await asyncio.sleep(1)
            confirmed = await fleet.stop_and_drain()
            await _check(hub, confirmed, "hub down")
        refused = sum(g.publisher.stats.not_delivered for g in fleet.gateways)
        if settings.mqtt.shared_group:  # no subscriber after the restart: the broker said so
            assert refused > 0
            assert fleet.vendor is not None
            assert fleet.vendor.refused > 0
        else:  # the hub's subscription survived the restart: every message had a subscriber
            assert refused == 0
    finally:
        await fleet.close()
        secure.broker.stop()
