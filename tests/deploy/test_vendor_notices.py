"""A vendor hears from the hub over MQTT (issue 21): notices on success, "not authorized".

Real Mosquitto with the shipped configuration and ACL (``start_secure_broker``), a real hub,
the vendor a paho MQTT 5 client on its own login. The vendor publishes readings of a device
nobody has assigned and with a code the codes table does not know: both are stored, and the
vendor receives a Notice naming both on ``hjem/v1/<vendor>/errors``; the same again within the
hour is not repeated. A publish on a topic outside the vendor's ACL gets PUBACK reason code
135 (0x87, "Not authorized") from the broker, which MQTT 3.1.1 cannot say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.service import Hub
from schemas.builders import make_observation
from schemas.codes import MDC_SYSTEM
from schemas.models import Batch, Coding, DeviceInfo, Observation, Source, encode
from tests.deploy.test_hub_behind_shipped_broker import (
    _next,
    _until,
    birth,
    gateway,
    hub_settings,
    subscribed,
)
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

USERS = {"hub": "hub-secret-123", "carefirm": "carefirm-secret-1", "gw-a": "gateway-a-secret"}
NOW = datetime.now(UTC).replace(microsecond=0)
NOT_AUTHORIZED = 135


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("notices-broker"), USERS)
    try:
        yield running
    finally:
        running.broker.stop()


def _readings(tag: str, value: str = "36.9") -> list[Observation]:
    source = Source(publisher="carefirm", device=DeviceInfo(id="cf-thermo-1"))
    known = make_observation(
        "body_temperature", source=source, effective=NOW, value=value, extra=tag
    )
    unknown = known.model_copy(
        update={"id": f"cf-grip-{tag}", "code": [Coding(system=MDC_SYSTEM, code="188999")]}
    )
    return [known, unknown]


def _message(message_id: str, observations: list[Observation]) -> bytes:
    return encode(
        Batch(message_id=message_id, publisher="carefirm", sent=NOW, observations=observations)
    )


def _stored_ids(hub: Hub) -> set[str]:
    rows = hub.conn.execute("SELECT id FROM observation WHERE publisher = 'carefirm'")
    return {str(r[0]) for r in rows}


async def test_a_vendor_hears_of_an_unassigned_device_and_an_unknown_code(
    shipped: SecureBroker, tmp_path: Path
) -> None:
    vendor = gateway(shipped, "carefirm")
    try:
        assert [rc.value for rc in vendor.subscribe("hjem/v1/carefirm/errors")] == [1]
        vendor.publish("hjem/v1/carefirm/status", birth("carefirm"), retain=True)
        async with Hub(hub_settings(shipped, tmp_path, tls=False)) as hub:
            hub.registry.add_publisher("carefirm", "vendor")
            await subscribed(hub, "carefirm")
            first = _readings("1")
            vendor.publish("hjem/v1/carefirm/obs", _message("cf-1", first))
            got = await _next(vendor)
            await _until(lambda: _stored_ids(hub) >= {o.id for o in first})
            # the same device and code again: stored, but the vendor was told already
            vendor.publish("hjem/v1/carefirm/obs", _message("cf-2", _readings("2")))
            bad = _readings("3", value="99.9")[:1]  # outside 25-45 Cel: refused
            vendor.publish("hjem/v1/carefirm/obs", _message("cf-3", bad))
            after = await _next(vendor)
        notice = json.loads(got.payload)
        assert got.topic == "hjem/v1/carefirm/errors"
        assert (notice["publisher"], notice["message_id"]) == ("carefirm", "cf-1")
        told = {n["kind"]: n for n in notice["notices"]}
        assert set(told) == {"unassigned-device", "unknown-code"}
        assert told["unassigned-device"]["device_id"] == "cf-thermo-1"
        assert told["unknown-code"]["code"] == f"{MDC_SYSTEM}|188999"
        assert told["unknown-code"]["path"] == "$.observations[1].code"
        # the hub answers in order: no second notice came before cf-3's rejection
        rejection = json.loads(after.payload)
        assert rejection["message_id"] == "cf-3", rejection
        assert "outside the possible range" in rejection["errors"][0]["reason"]
    finally:
        vendor.close()


async def test_an_mqtt5_publish_outside_the_acl_is_answered_not_authorized(
    shipped: SecureBroker,
) -> None:
    vendor = gateway(shipped, "carefirm")
    try:
        payload = _message("cf-acl", _readings("acl"))
        refused = vendor.publish_nowait("hjem/v1/gw-a/obs", payload)  # another's topic
        assert vendor.puback_reason(refused).value == NOT_AUTHORIZED
        alerts = vendor.publish_nowait("hjem/v1/alerts/a-1", b"{}")
        assert vendor.puback_reason(alerts).value == NOT_AUTHORIZED
        own = vendor.publish_nowait("hjem/v1/carefirm/status", birth("carefirm"))
        assert vendor.puback_reason(own).value < 0x80  # its own topic: delivered
    finally:
        vendor.close()
