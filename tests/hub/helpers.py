"""Helpers for the hub tests: payload builders, a paho publisher, an errors-topic listener."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hjem.mosquitto import Mosquitto
from hub.alerts.settings import AlertSettings
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.service import Hub
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Observation, Source, encode

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

NO_ALERTS = AlertSettings(enabled=False)
"""For hubs in tests of ingest, storage and transport: no alert rules, said explicitly (a hub
with alerts enabled and no rule refuses to start)."""


def settings_for(
    broker: Mosquitto,
    tmp_path: Path,
    *,
    client_id: str = "hub-test",
    alerts: AlertSettings = NO_ALERTS,
    **mqtt: Any,
) -> HubSettings:
    return HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=MqttSettings(url=broker.url, client_id=client_id, **mqtt),
        http=HttpSettings(port=0),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=alerts,
    )


def observation(
    publisher: str, index: int, device: str = "dev-1", value: str = "36.6"
) -> Observation:
    source = Source(publisher=publisher, device=DeviceInfo(id=device))
    return make_observation(
        "body_temperature",
        source=source,
        effective=T0 + timedelta(seconds=index),
        value=value,
    )


def batch(
    publisher: str, start: int, count: int = 1, device: str = "dev-1", message_id: str = ""
) -> bytes:
    obs = [observation(publisher, start + i, device) for i in range(count)]
    return encode(
        Batch(
            message_id=message_id or f"m-{publisher}-{start}",
            publisher=publisher,
            sent=T0,
            observations=obs,
        )
    )


def expected_ids(publisher: str, start: int, count: int, device: str = "dev-1") -> set[str]:
    return {observation(publisher, start + i, device).id for i in range(count)}


class Client:
    """A connected paho client (QoS 1) for publishing and collecting messages in tests."""

    def __init__(
        self,
        broker: Mosquitto,
        client_id: str,
        *,
        subscribe: str | None = None,
        clean: bool = True,
        username: str | None = None,
        password: str | None = None,
        v5: bool = False,
    ) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else clean,
        )
        if username:
            self.client.username_pw_set(username, password)
        self._subscribe = subscribe
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("test client did not connect")

    def _on_connect(self, client: paho.Client, *args: object) -> None:
        if self._subscribe:
            client.subscribe(self._subscribe, qos=1)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(t, p, qos=1) for t, p in items]
        for info in infos:
            info.wait_for_publish(30)

    def json_messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(m.payload) for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def alert_feed_started(hub: Hub) -> bool:
    """The hub's alert engine has its feed position: a reading stored from now on is
    evaluated. (A fresh hub's engine starts at the newest stored observation when it first
    leads - on PostgreSQL after the advisory lock, up to a poll after the start.)"""
    try:
        return bool(hub.conn.execute("SELECT COUNT(*) FROM alert_feed_cursor").fetchone()[0])
    except sqlite3.Error:  # the table comes with the engine's first unit
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
