"""Finding 1: publishers are bound to devices, and ids cannot pre-empt another's readings.

Red-team shape: a gateway of organisation B published SpO2 80 % for organisation A's device
and it was stored in A's resident's record; a vendor with no home did the same over HTTP; a
vendor that posted readings under the ids a gateway's next readings would carry made the hub
drop the genuine ones as duplicates. Real Mosquitto with the shipped configuration, real hub.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.config import HttpSettings
from hub.service import Hub
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.deploy.test_hub_behind_shipped_broker import (
    Events,
    _next,
    _until,
    birth,
    gateway,
    hub_settings,
    subscribed,
)
from tests.support.deploy import Client, SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

USERS = {"hub": "hub-secret-123", "gw-a": "gateway-a-secret", "gw-b": "gateway-b-secret"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("binding-broker"), USERS)
    try:
        yield running
    finally:
        running.broker.stop()


def _batch(publisher: str, device: str, key: str, values: list[str], message_id: str) -> bytes:
    """Readings one second apart; ids derived from the device and the time (public inputs)."""
    source = Source(publisher=publisher, device=DeviceInfo(id=device))
    observations = [
        make_observation(key, source=source, effective=NOW + timedelta(seconds=i), value=v)
        for i, v in enumerate(values)
    ]
    return encode(
        Batch(message_id=message_id, publisher=publisher, sent=NOW, observations=observations)
    )


def _two_organisations(hub: Hub) -> str:
    """Organisation A (home-a, gw-a, Anna with an oximeter) and B (home-b, gw-b, Bent)."""
    registry = hub.registry
    for org in ("a", "b"):
        registry.add_organisation(f"org-{org}", f"Kommune {org.upper()}")
        registry.add_team(f"team-{org}", f"org-{org}", f"Team {org.upper()}")
        registry.add_home(f"home-{org}", f"Home {org.upper()}", f"team-{org}")
        registry.add_publisher(f"gw-{org}", "gateway", f"home-{org}")
    anna = registry.add_resident("Anna", "home-a")
    registry.add_resident("Bent", "home-b")
    registry.assign("oxi-a", anna.id, NOW - timedelta(days=1))
    return anna.id


def _stored(hub: Hub, resident: str) -> list[tuple[str, float]]:
    rows = hub.conn.execute(
        "SELECT publisher, value FROM observation WHERE resident_id = ? ORDER BY effective_us",
        (resident,),
    )
    return [(str(p), float(v)) for p, v in rows]


def _counter(hub: Hub, name: str) -> int:
    row = hub.conn.execute("SELECT value FROM counter WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


async def test_a_gateway_of_another_organisation_cannot_write_into_a_resident(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    events = Events()
    gw_a, gw_b = gateway(shipped, "gw-a"), gateway(shipped, "gw-b")
    try:
        assert [rc.value for rc in gw_b.subscribe("hjem/v1/gw-b/errors")] == [1]
        gw_b.publish("hjem/v1/gw-b/status", birth("gw-b"), retain=True)
        async with Hub(hub_settings(shipped, tmp_path, tls=False)) as hub:
            hub.add_listener(events)
            anna = _two_organisations(hub)
            await subscribed(hub, "gw-b")
            gw_b.publish("hjem/v1/gw-b/obs", _batch("gw-b", "oxi-a", "spo2", ["80"], "forged"))
            got = await _next(gw_b)
            gw_a.publish("hjem/v1/gw-a/obs", _batch("gw-a", "oxi-a", "spo2", ["97"], "real"))
            await _until(lambda: bool(_stored(hub, anna)))
            assert _stored(hub, anna) == [("gw-a", 97.0)]
            assert _counter(hub, "observations_refused_unbound") == 1
            assert hub.conn.execute(
                "SELECT COUNT(*) FROM observation WHERE publisher = 'gw-b'"
            ).fetchone() == (0,)
        rejection = json.loads(got.payload)
        assert got.topic == "hjem/v1/gw-b/errors"
        assert (rejection["message_id"], rejection["accepted"], rejection["rejected"]) == (
            "forged",
            0,
            1,
        )
        [error] = rejection["errors"]
        assert error["path"] == "$.observations[0].source.device.id"
        assert "'oxi-a' is not bound to publisher 'gw-b'" in error["reason"]
    finally:
        gw_a.close()
        gw_b.close()


@asynccontextmanager
async def _with_vendor(
    shipped: SecureBroker, tmp_path: Path, gw_a: Client
) -> AsyncIterator[tuple[Hub, str, httpx.AsyncClient]]:
    """A hub with both organisations and vendor-x, which posts over HTTPS with its token."""
    settings = hub_settings(shipped, tmp_path, tls=False).model_copy(
        update={"http": HttpSettings(port=0)}
    )
    gw_a.publish("hjem/v1/gw-a/status", birth("gw-a"), retain=True)
    async with Hub(settings) as hub:
        anna = _two_organisations(hub)
        hub.registry.add_publisher("vendor-x", "vendor")
        token = hub.registry.issue_token("vendor-x")
        await subscribed(hub, "gw-a")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{hub.http_port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            trust_env=False,
        ) as http:
            yield hub, anna, http


async def test_a_vendor_cannot_write_for_a_device_it_is_not_bound_to(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    gw_a = gateway(shipped, "gw-a")
    try:
        async with _with_vendor(shipped, tmp_path, gw_a) as (hub, anna, http):
            forged = _batch("vendor-x", "oxi-a", "spo2", ["80"], "v-1")
            answer = await http.post("/api/v1/observations", content=forged)
            assert answer.status_code == 422, answer.text
            [error] = answer.json()["errors"]
            assert error["path"] == "$.observations[0].source.device.id"
            assert "not bound to publisher 'vendor-x'" in error["reason"]
            assert _stored(hub, anna) == []
            assert _counter(hub, "observations_refused_unbound") == 1
    finally:
        gw_a.close()


async def test_ids_posted_first_by_another_publisher_pre_empt_nothing(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    gw_a = gateway(shipped, "gw-a")
    try:
        async with _with_vendor(shipped, tmp_path, gw_a) as (hub, anna, http):
            # The ids the gateway's next 11 fever readings will carry, posted first by the
            # vendor for a device of its own: stored as the vendor's, pre-empting nothing.
            genuine = _batch("gw-a", "oxi-a", "body_temperature", ["39.5"] * 11, "g-1")
            decoy = json.loads(genuine)
            decoy["publisher"] = "vendor-x"
            for obs in decoy["observations"]:
                obs["source"] = {"publisher": "vendor-x", "device": {"id": "vendor-thermo"}}
                obs["value"] = "36.6"
            posted = await http.post("/api/v1/observations", content=json.dumps(decoy))
            assert posted.status_code == 200, posted.text
            assert posted.json()["stored"] == 11
            gw_a.publish("hjem/v1/gw-a/obs", genuine)
            await _until(lambda: len(_stored(hub, anna)) == 11)
            assert _stored(hub, anna) == [("gw-a", 39.5)] * 11
    finally:
        gw_a.close()


async def test_a_device_bound_to_a_vendor_refuses_even_its_homes_gateway(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    gw_a = gateway(shipped, "gw-a")
    try:
        assert [rc.value for rc in gw_a.subscribe("hjem/v1/gw-a/errors")] == [1]
        gw_a.publish("hjem/v1/gw-a/status", birth("gw-a"), retain=True)
        async with Hub(hub_settings(shipped, tmp_path, tls=False)) as hub:
            anna = _two_organisations(hub)
            hub.registry.add_publisher("vendor-x", "vendor")
            hub.registry.assign("cuff-a", anna, NOW - timedelta(days=1))
            hub.registry.bind("cuff-a", "vendor-x", NOW - timedelta(hours=1))
            await subscribed(hub, "gw-a")
            gw_a.publish(
                "hjem/v1/gw-a/obs", _batch("gw-a", "cuff-a", "pulse_rate_oximeter", ["70"], "c")
            )
            got = await _next(gw_a)
            assert json.loads(got.payload)["rejected"] == 1
            assert _stored(hub, anna) == []
    finally:
        gw_a.close()
