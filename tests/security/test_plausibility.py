"""Issue 15, finding 12: impossible values and repeated JSON keys are refused, with reasons.

The red team stored a body temperature of 1e20 °C, and a message whose observation gave
``value`` twice was stored with the last one. Through Mosquitto with the shipped
configuration and a real hub: each such message is refused on the publisher's errors topic,
naming the path (and the range or the key), and nothing of it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import MqttSettings
from hub.service import Hub
from schemas.models import Batch, encode
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, observation, settings_for
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

USERS = {"hub": "hub-secret", "gw-1": "gw-secret"}
TOPIC = "hjem/v1/gw-1/obs"


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield broker
    finally:
        broker.broker.stop()


def _message(message_id: str, index: int, value: str) -> bytes:
    obs = [observation("gw-1", index, device="thermo", value=value)]
    return encode(
        Batch(message_id=message_id, publisher="gw-1", sent=obs[0].effective, observations=obs)
    )


def _rejections(client: Client) -> dict[str, dict[str, Any]]:
    """The Rejections received (not the Notices: the devices here are nobody's)."""
    return {m["message_id"]: m for m in client.json_messages() if "errors" in m}


async def test_impossible_values_and_repeated_keys_are_refused_over_mqtt(
    secure: SecureBroker, tmp_path: Path
) -> None:
    broker = secure.broker
    mqtt = MqttSettings(url=broker.url, client_id="hub", username="hub", password="hub-secret")
    settings = settings_for(broker, tmp_path).model_copy(update={"mqtt": mqtt})
    pub = Client(
        broker, "gw-1", username="gw-1", password="gw-secret", subscribe="hjem/v1/gw-1/errors"
    )
    hot = _message("m-hot", 0, "99999999999999999999")  # ~1e20 °C
    twice = _message("m-twice", 1, "36.6").replace(
        b'"value":"36.6"', b'"value":"36.6","value":"39.9"'
    )
    envelope = _message("m-envelope", 2, "36.6").replace(
        b'"publisher":"gw-1",', b'"publisher":"gw-1","publisher":"gw-1",', 1
    )
    assert twice.count(b'"value"') == 2
    assert envelope.count(b'"publisher"') == 3  # the envelope's twice, the source's once
    async with Hub(settings) as hub:
        for payload in (hot, twice, envelope, _message("m-fine", 3, "36.6")):
            pub.publish(TOPIC, payload)
        fine = {observation("gw-1", 3, device="thermo").id}
        await eventually(lambda: set(hub.store.ids()) >= fine, what="the valid reading")  # type: ignore[attr-defined]
        await eventually(lambda: len(_rejections(pub)) == 3, what="three rejections")
        stored = set(hub.store.ids())  # type: ignore[attr-defined]
    pub.close()
    assert stored == fine, "an impossible or ambiguous reading was stored"
    rejections = _rejections(pub)
    [hot_error] = rejections["m-hot"]["errors"]
    assert hot_error["path"] == "$.observations[0].value"
    assert "outside the possible range 25 to 45 Cel" in hot_error["reason"]
    [twice_error] = rejections["m-twice"]["errors"]
    assert twice_error["path"] == "$.observations[0].value"
    assert "'value' occurs more than once" in twice_error["reason"]
    [envelope_error] = rejections["m-envelope"]["errors"]
    assert envelope_error["path"] == "$.publisher"
    assert "'publisher' occurs more than once" in envelope_error["reason"]
    assert rejections["m-envelope"]["accepted"] == 0
    print(json.dumps(rejections["m-hot"]["errors"], ensure_ascii=False))
