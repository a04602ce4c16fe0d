"""Publishers for the broker tests: real edge gateways (publisher + outbox) and a vendor client.

Each publisher keeps the ids of the readings the broker *confirmed*: for a gateway, the rows
that left its outbox (only a PUBACK it counts as delivered removes them); for the vendor, the
readings whose PUBACK arrived (MQTT 3.1.1: any PUBACK; MQTT 5: reason code 0 only, as the
vendor guide asks).
"""

from __future__ import annotations

import asyncio
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from edge.config import parse_config
from edge.outbox import Outbox, StoredItem
from edge.publisher import Publisher
from hub.admin.provision import DEPLOY_DIR
from hub.alerts.settings import AlertSettings
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, GatewayStatus, Observation, Source, StatusKind, encode
from tests.support.deploy import SecureBroker

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def reading(publisher: str, index: int, *, gateway: bool) -> Observation:
    source = Source(
        publisher=publisher,
        gateway=publisher if gateway else None,
        device=DeviceInfo(id=f"{publisher}-thermo"),
    )
    return make_observation(
        "body_temperature",
        source=source,
        effective=T0 + timedelta(milliseconds=100 * index),
        value=f"36.{index % 10}",
    )


def shipped_hub_settings(
    secure: SecureBroker, database: Path, *, username: str, **mqtt: Any
) -> HubSettings:
    """The [mqtt] section of deploy/hub.example.toml, pointed at the loopback broker."""
    shipped = tomllib.loads((DEPLOY_DIR / "hub.example.toml").read_text(encoding="utf-8"))
    section: dict[str, Any] = dict(shipped["mqtt"])
    section.update(
        url=f"mqtt://127.0.0.1:{secure.plain_port}",
        username=username,
        password=SecretStr(secure.passwords[username]),
        **mqtt,
    )
    return HubSettings(
        database=database,
        mqtt=MqttSettings(**section),
        http=HttpSettings(enabled=False),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=AlertSettings(rules_file=DEPLOY_DIR / "alerts.example.toml"),
    )


class EdgeGateway:
    """The edge's Publisher and Outbox, with readings put into the outbox every ``period_s``."""

    def __init__(self, secure: SecureBroker, gateway_id: str, workdir: Path) -> None:
        self.gateway_id = gateway_id
        self.config = parse_config(
            {
                "gateway_id": gateway_id,
                "mqtt": {
                    "url": f"mqtt://127.0.0.1:{secure.plain_port}",
                    "password": secure.passwords[gateway_id],
                    "reconnect_min_s": 0.05,
                    "reconnect_max_s": 0.5,
                    "batch_linger_s": 0.02,
                    "batch_max_observations": 5,
                },
                "outbox": {"path": str(workdir / f"{gateway_id}.outbox")},
                "heartbeat_interval_s": 5,
            }
        )
        self.outbox = Outbox(self.config.outbox.path, self.config.outbox.quota_bytes).open()
        self.publisher = Publisher(self.config, self.outbox, self._status)
        self.put: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._producing = True

    def _status(self, kind: StatusKind) -> GatewayStatus:
        online = kind != StatusKind.DEATH
        return GatewayStatus(
            publisher=self.gateway_id, kind=kind, online=online, time=datetime.now(UTC)
        )

    def start(self, period_s: float = 0.01) -> None:
        self._tasks = [
            asyncio.create_task(self.publisher.run()),
            asyncio.create_task(self._produce(period_s)),
        ]

    async def _produce(self, period_s: float) -> None:
        while self._producing:
            obs = reading(self.gateway_id, len(self.put), gateway=True)
            self.outbox.put([StoredItem(obs.id, True, encode(obs))])
            self.put.append(obs.id)
            self.publisher.wake()
            await asyncio.sleep(period_s)

    def stop_producing(self) -> None:
        self._producing = False

    def confirmed(self) -> set[str]:
        """The readings that left the outbox (the broker's PUBACK counted as delivery)."""
        left = {row.obs_id for row in self.outbox.take(10**9)}
        return set(self.put) - left

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.outbox.close()


class Vendor:
    """A vendor system publishing one reading per message from paho's own thread."""

    def __init__(self, secure: SecureBroker, vendor_id: str, *, v5: bool) -> None:
        self.vendor_id = vendor_id
        self.v5 = v5
        self.confirmed: set[str] = set()
        self.refused = 0  # PUBACKs with a reason code other than 0 (MQTT 5)
        self._reasons: dict[int, ReasonCode] = {}
        self._stop = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{vendor_id}-uploader",
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else True,
        )
        self.client.username_pw_set(vendor_id, secure.passwords[vendor_id])
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = self._on_publish
        self.client.connect_async("127.0.0.1", secure.plain_port, keepalive=10)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"vendor-{vendor_id}")
        self._thread.start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._reasons[mid] = reason

    def _run(self) -> None:
        index = 0
        topic = f"hjem/v1/{self.vendor_id}/obs"
        while not self._stop.is_set():
            time.sleep(0.01)
            if not self.client.is_connected():
                continue
            obs = reading(self.vendor_id, index, gateway=False)
            batch = Batch(
                message_id=f"{self.vendor_id}-{index}",
                publisher=self.vendor_id,
                sent=datetime.now(UTC),
                observations=[obs],
            )
            info = self.client.publish(topic, encode(batch), qos=1)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError):
                continue  # not sent: the vendor tries this reading again
            reason = self._reasons.pop(info.mid, None)
            if not info.is_published() or reason is None:
                continue
            if self.v5 and reason.value != 0:
                self.refused += 1
                continue  # "No matching subscribers" (0x10): not delivered, send again
            self.confirmed.add(obs.id)
            index += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()
