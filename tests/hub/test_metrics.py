"""Prometheus /metrics of a real running hub (real Mosquitto, SQLite, HTTP server), parsed
with prometheus_client's own text parser after some ingest, an alert that escalates, a
failing webhook and an open live stream."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto, free_port
from hub.alerts.settings import AlertSettings
from hub.auth import Role, UserStore
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.service import Hub
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, alert_feed_started, batch
from tests.support.hub_db import HubDatabases

ADMIN_PASSWORD = "Tordenvejr-over-Limfjorden-1987!"
RULES = """
[escalation.fast]
repeat_seconds = 600
steps = [
  { responder = "team:day", ack_deadline_seconds = 0.5 },
  { responder = "team:lead", ack_deadline_seconds = 600 },
]

[[rule]]
id = "fall"
kind = "event"
measure = "fall"
severity = "critical"
escalation = "fast"
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _fall(device: str, publisher: str) -> bytes:
    now = datetime.now(UTC)
    source = Source(publisher=publisher, device=DeviceInfo(id=device))
    obs = make_observation("fall", source=source, effective=now, value_code="fall")
    return encode(
        Batch(
            message_id=f"fall-{time.time_ns()}", publisher=publisher, sent=now, observations=[obs]
        )
    )


def _birth(publisher: str) -> bytes:
    status = {
        "schema": "hjem/1",
        "publisher": publisher,
        "kind": "birth",
        "online": True,
        "time": datetime.now(UTC).isoformat(),
    }
    return json.dumps(status).encode()


def _parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _settings(
    tmp_path: Path, broker: Mosquitto, databases: HubDatabases | None = None
) -> HubSettings:
    """``databases``: the test's hub database on either engine (else a SQLite file)."""
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)
    fields: dict[str, Any] = {
        "mqtt": MqttSettings(url=broker.url, client_id="hub-metrics"),
        "http": HttpSettings(port=0),
        "ingest": IngestSettings(sqlite_synchronous="normal"),
        "alerts": AlertSettings(
            rules_file=rules,
            tick_seconds=0.1,
            webhook_url=f"http://127.0.0.1:{free_port()}/nobody-listens",
            webhook_secret="s3cret-s3cret",
            retry_base_seconds=0.2,
            retry_max_seconds=0.5,
            stream_keepalive_seconds=0.5,
        ),
    }
    if databases is not None:
        return databases.settings(**fields)
    return HubSettings(database=tmp_path / "hub.sqlite3", **fields)


def _seed(hub: Hub) -> dict[str, str]:
    registry = hub.registry
    registry.add_organisation("org-a", "Kommune A")
    registry.add_team("t-a", "org-a", "North")
    registry.add_home("h-1", "Home 1", team_id="t-a")
    registry.add_publisher("gw-1", "gateway", "h-1")
    registry.add_publisher("gw-2", "gateway", "h-1")
    anna = registry.add_resident("Anna", "h-1")
    registry.add_device("dev-1", "hall")
    registry.assign("dev-1", anna.id, datetime(2020, 1, 1, tzinfo=UTC))
    users = UserStore(hub.conn, utcnow)
    root = users.create_user("root", ADMIN_PASSWORD, Role.ADMIN, None)
    local = users.create_user("local-admin", ADMIN_PASSWORD, Role.ADMIN, "org-a")
    nurse = users.create_user("nurse", "korrekt-hest-batteri", Role.CARE_STAFF, "org-a")
    return {
        "root": users.issue_token(root.id, "prometheus"),
        "local": users.issue_token(local.id, "t"),
        "nurse": users.issue_token(nurse.id, "t"),
    }


def _publish_traffic(client: Client) -> None:
    client.publish("hjem/v1/gw-1/status", _birth("gw-1"))
    client.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 5))  # 5 stored
    client.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 5))  # the same again: 5 duplicates
    client.publish("hjem/v1/gw-1/obs", b"{not json")  # malformed
    client.publish("hjem/v1/gw-2/obs", batch("gw-1", 10, 2))  # another's publisher id
    client.publish("hjem/v1/gw-1/obs", _fall("dev-1", "gw-1"))  # opens the fall alert
    mixed = json.loads(batch("gw-1", 20, 2))
    mixed["observations"][1]["unit"] = "kg"
    client.publish("hjem/v1/gw-1/obs", json.dumps(mixed).encode())  # 1 stored, 1 refused


@pytest.mark.asyncio
@pytest.mark.mosquitto
async def test_metrics_scraped_from_a_running_hub(
    tmp_path: Path, broker: Mosquitto, hub_dbs: HubDatabases
) -> None:
    """On SQLite and on PostgreSQL: the counters, alert and outbox figures are SQL there."""
    async with Hub(_settings(tmp_path, broker, hub_dbs)) as hub:
        tokens = _seed(hub)
        await eventually(lambda: alert_feed_started(hub), what="the alert engine's feed")
        client = Client(broker, "metrics-publisher")
        try:
            _publish_traffic(client)
        finally:
            client.close()
        await eventually(
            lambda: hub.ledger.counters().get("obs_messages_received", 0) == 6, what="ingest"
        )
        url = f"http://127.0.0.1:{hub.http_port}"
        root = {"Authorization": f"Bearer {tokens['root']}"}
        async with (
            httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http,
            httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as live,
            live.stream("GET", "/api/v1/alerts/stream", headers=root) as stream,
        ):
            lines = stream.aiter_lines()  # kept: a dropped iterator closes the stream
            assert await anext(lines) == ": subscribed"

            async def scrape() -> Samples:
                reply = await http.get("/metrics", headers=root)
                assert reply.status_code == 200, reply.text
                assert reply.headers["content-type"].startswith("text/plain; version=")
                return _parse(reply.text)

            deadline = time.monotonic() + 20
            samples = await scrape()
            while time.monotonic() < deadline and not (
                samples.get(("hjem_alert_escalations_total", ())) == 1
                and samples.get(("hjem_notification_failures_total", (("channel", "webhook"),)), 0)
                >= 2
            ):
                await asyncio.sleep(0.2)
                samples = await scrape()

            def value(name: str, **labels: str) -> float:
                return samples[(name, tuple(sorted(labels.items())))]

            assert value("hjem_ingest_observations_total", outcome="accepted") == 12
            assert value("hjem_ingest_observations_total", outcome="stored") == 7
            assert value("hjem_ingest_observations_total", outcome="duplicate") == 5
            assert value("hjem_ingest_observations_total", outcome="rejected") == 1
            assert value("hjem_ingest_messages_total", kind="obs", outcome="received") == 6
            assert value("hjem_ingest_messages_total", kind="obs", outcome="rejected") == 2
            partly = value("hjem_ingest_messages_total", kind="obs", outcome="partly_rejected")
            assert partly == 1
            assert value("hjem_ingest_rejections_total", reason="schema", publisher="gw-1") == 1
            assert value("hjem_ingest_messages_total", kind="status", outcome="received") == 1
            assert value("hjem_ingest_rejections_total", reason="malformed", publisher="gw-1") == 1
            assert (
                value("hjem_ingest_rejections_total", reason="publisher_mismatch", publisher="gw-2")
                == 1
            )
            assert value("hjem_ingest_commit_seconds_count") >= 1
            assert value("hjem_ingest_commit_seconds_sum") > 0
            assert value("hjem_ingest_backlog_messages") == 0
            assert value("hjem_mqtt_connected") == 1
            assert value("hjem_alerts_open", state="ACTIVE_UNACK", severity="critical") == 1
            assert value("hjem_alerts_open", state="ACTIVE_ACK", severity="critical") == 0
            assert value("hjem_alert_escalations_total") == 1
            assert value("hjem_notification_failures_total", channel="webhook") >= 2
            assert value("hjem_gateways", state="online") == 1
            assert value("hjem_gateways", state="offline") == 0
            assert value("hjem_sse_subscribers") == 1
        assert (await _get(url, "/metrics", None)).status_code == 401
        assert (await _get(url, "/metrics", tokens["local"])).status_code == 403
        assert (await _get(url, "/metrics", tokens["nurse"])).status_code == 403


async def _get(url: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
        return await http.get(path, headers=headers)


@pytest.mark.asyncio
@pytest.mark.mosquitto
async def test_two_hubs_in_one_process_keep_their_own_metrics(
    tmp_path: Path, broker: Mosquitto
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = _settings(tmp_path / "one", broker)
    two = _settings(tmp_path / "two", broker)
    async with Hub(one, mqtt=False) as first, Hub(two, mqtt=False) as second:
        first.metrics.commit_seconds.observe(0.01)
        first_text = first.metrics.render().decode()
        second_text = second.metrics.render().decode()
    assert _parse(first_text)[("hjem_ingest_commit_seconds_count", ())] == 1
    assert _parse(second_text)[("hjem_ingest_commit_seconds_count", ())] == 0
