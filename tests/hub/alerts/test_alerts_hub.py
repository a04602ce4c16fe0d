"""The engine wired into the running hub: an observation published on MQTT becomes an
alert on the live stream (over the hub's own HTTP server) and a retained AlertEvent."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx
import pytest

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto
from hub.alerts.settings import AlertSettings
from hub.auth import Role, UserStore
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.errors import HubError
from hub.service import Hub
from schemas.builders import make_observation
from schemas.models import AlertEvent, AlertState, Batch, DeviceInfo, Source, encode
from schemas.topics import ALERTS_FILTER

RULES = """
[[rule]]
id = "fall"
kind = "event"
measure = "fall"
"""


def _fall_batch(device: str, publisher: str = "gw-1") -> bytes:
    now = datetime.now(UTC)
    source = Source(publisher=publisher, device=DeviceInfo(id=device))
    observation = make_observation("fall", source=source, effective=now, value_code="fall")
    return encode(
        Batch(
            message_id=f"m-{time.time_ns()}",
            publisher=publisher,
            sent=now,
            observations=[observation],
        )
    )


async def _block(lines: object) -> list[str]:
    block: list[str] = []
    async for line in lines:  # type: ignore[attr-defined]
        if line == "":
            if block:
                return block
            continue
        block.append(line)
    return block


@pytest.mark.asyncio
@pytest.mark.mosquitto
async def test_mqtt_observation_to_sse_alert_and_retained_event(
    tmp_path: Path, broker: Mosquitto
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)
    settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=MqttSettings(url=broker.url, client_id="hub-alerts-test"),
        http=HttpSettings(port=0),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=AlertSettings(rules_file=rules, stream_keepalive_seconds=0.5),
    )
    async with Hub(settings) as hub:
        registry = hub.registry
        registry.add_organisation("org-a", "Kommune A")
        registry.add_team("t-a", "org-a", "Home care north")
        registry.add_home("h-1", "Home 1", team_id="t-a")
        registry.add_publisher("gw-1", "gateway", "h-1")
        anna = registry.add_resident("Anna", "h-1")
        registry.add_device("w-1", "hall")
        registry.assign("w-1", anna.id, datetime(2026, 1, 1, tzinfo=UTC))
        assert hub.auth is not None
        users = UserStore(hub.conn, utcnow)
        nurse = users.create_user("nurse", "long enough pw", Role.CARE_STAFF, "org-a")
        token = users.issue_token(nurse.id, "test")
        url = f"http://127.0.0.1:{hub.http_port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as client,
            client.stream("GET", "/api/v1/alerts/stream", headers=headers) as stream,
            aiomqtt.Client("127.0.0.1", broker.port, identifier="gateway-sim") as gateway,
        ):
            lines = stream.aiter_lines()
            assert await _block(lines) == [": subscribed"]
            await gateway.publish("hjem/v1/gw-1/obs", _fall_batch("w-1"), qos=1)
            block = await asyncio.wait_for(_block(lines), 15)
            event = AlertEvent.model_validate_json(block[2].removeprefix("data: "))
            assert (event.rule, event.resident, event.home, event.state) == (
                "fall",
                anna.id,
                "h-1",
                AlertState.ACTIVE_UNACK,
            )
            listed = (await client.get("/api/v1/alerts", headers=headers)).json()
            assert [(a["id"], a["organisation"]) for a in listed] == [(event.alert_id, "org-a")]
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="reader") as reader:
            await reader.subscribe(ALERTS_FILTER, qos=1)
            message = await asyncio.wait_for(anext(aiter(reader.messages)), 10)
        assert isinstance(message.payload, bytes)
        assert json.loads(message.payload)["alert_id"] == event.alert_id
        assert message.retain


def test_a_wrong_rules_file_stops_the_hub_with_its_name(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nid = "x"\nkind = "threshold"\nmeasure = "spo2"\n')
    settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        http=HttpSettings(enabled=False),
        alerts=AlertSettings(rules_file=rules),
    )
    with pytest.raises(HubError, match=r"alerts\.toml: rule\[0\] 'x': operator: Field required"):
        Hub(settings, mqtt=False).open()


def test_webhook_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="webhook_url needs webhook_secret"):
        AlertSettings(webhook_url="https://care.example/hook")
