"""The hub's MQTT connection: paho-mqtt 2.x, persistent session, QoS 1, manual acknowledgement.

Threading (see docs/hub.md): paho's network loop runs in its own thread (``loop_start``).
``on_message`` hands each message to the asyncio loop with ``loop.call_soon_threadsafe`` into
an ``asyncio.Queue`` (one wake-up per burst: messages arriving while a wake-up is pending
join it); a semaphore of the queue's size makes the hand-off bounded (the paho
thread waits when the hub falls behind, which stops reading the socket, which is TCP back
pressure). The asyncio side acknowledges with ``client.ack(mid, qos)``, which only queues the
PUBACK under paho's own lock and wakes paho's loop: no event loop runs in a second thread.

Acknowledgements carry the connection generation: a message received on an earlier
connection is never acknowledged on a later one (the broker redelivers it; dedup by
observation id makes that harmless).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.config import IngestSettings, MqttSettings
from hub.errors import MqttError
from hub.ingest import Inbound
from schemas.topics import OBSERVATIONS_FILTER, STATUS_FILTER, shared

__all__ = ["AckHandle", "MqttConnection"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AckHandle:
    mid: int
    qos: int
    generation: int


class MqttConnection:
    """Subscribe to observations and status; yield batches; ack after commit; publish."""

    def __init__(self, settings: MqttSettings, ingest: IngestSettings) -> None:
        self._settings = settings
        self._ingest = ingest
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Inbound] = asyncio.Queue()
        self._slots = threading.Semaphore(ingest.queue_size)
        self._pending: collections.deque[Inbound] = collections.deque()
        self._pending_lock = threading.Lock()
        self._wake_scheduled = False
        self._stopping = threading.Event()
        self._generation = 0
        self._connected = asyncio.Event()  # set on SUBACK, cleared on disconnect
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    @property
    def subscribed(self) -> bool:
        """True once the broker acknowledged the subscriptions of the current connection."""
        return self._connected.is_set() and self.connected

    @property
    def subscriptions(self) -> list[str]:
        obs = OBSERVATIONS_FILTER
        if self._settings.shared_group:
            obs = shared(self._settings.shared_group, obs)
        return [obs, STATUS_FILTER]

    def _make_client(self) -> paho.Client:
        s = self._settings
        v5 = s.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.username:
            client.username_pw_set(
                s.username, s.password.get_secret_value() if s.password else None
            )
        if s.uses_tls:
            tls = s.tls
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls and tls.ca_file else None,
                certfile=str(tls.cert_file) if tls and tls.cert_file else None,
                keyfile=str(tls.key_file) if tls and tls.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(100)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    async def start(self) -> None:
        """Connect (persistent session) and wait until the broker acknowledged the subscriptions.

        Waiting for the SUBACK, not only the CONNACK, matters on a hub's very first start:
        before its subscription exists, the broker has no session to queue messages in.
        """
        self._loop = asyncio.get_running_loop()
        s = self._settings
        props = None
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = min(s.receive_maximum, self._ingest.queue_size)
        try:
            self._client.connect_async(
                s.host,
                s.port,
                keepalive=s.keepalive_s,
                clean_start=False if s.protocol == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY,
                properties=props,
            )
        except (OSError, ValueError) as exc:
            raise MqttError(s.url, str(exc)) from exc
        self._client.loop_start()
        try:
            async with asyncio.timeout(30):
                await self._connected.wait()
        except TimeoutError as exc:
            self.stop()
            raise MqttError(s.url, "no CONNACK and SUBACK within 30 s") from exc

    def stop(self) -> None:
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho thread -----------------------------------------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        del userdata, properties
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        log.info("MQTT connected (session present: %s)", flags.session_present)
        if self._settings.protocol == "5":
            opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
            client.subscribe([(topic, opts) for topic in self.subscriptions])
        else:
            client.subscribe([(topic, 1) for topic in self.subscriptions])

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        del client, userdata, mid, properties
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT subscription refused by the broker: %s", ", ".join(refused))
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        del client, userdata, flags, properties
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.clear)
        if not self._stopping.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        del client, userdata
        while not self._slots.acquire(timeout=0.5):
            if self._stopping.is_set():
                return
        inbound = Inbound(
            topic=msg.topic,
            payload=msg.payload if isinstance(msg.payload, bytes) else bytes(msg.payload),
            received=datetime.now(UTC),
            retained=bool(msg.retain),
            handle=AckHandle(msg.mid, msg.qos, self._generation),
        )
        with self._pending_lock:
            self._pending.append(inbound)
            wake = not self._wake_scheduled
            self._wake_scheduled = True
        if wake:  # one loop wake-up (a self-pipe write) per burst, not per message
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._move_pending)

    def _move_pending(self) -> None:
        with self._pending_lock:
            items = list(self._pending)
            self._pending.clear()
            self._wake_scheduled = False
        for item in items:
            self._queue.put_nowait(item)

    # -- asyncio side ----------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[Inbound]]:
        """Groups of waiting messages (at least one; at most the configured limits)."""
        limit_msgs = self._ingest.max_batch_messages
        limit_bytes = self._ingest.max_batch_bytes
        while True:
            first = await self._queue.get()
            group = [first]
            size = len(first.payload)
            while len(group) < limit_msgs and size < limit_bytes:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                group.append(item)
                size += len(item.payload)
            for _ in group:
                self._slots.release()
            yield group

    def ack(self, inbounds: list[Inbound]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        done = 0
        for inbound in inbounds:
            handle = inbound.handle
            if isinstance(handle, AckHandle) and handle.generation == self._generation:
                if handle.qos > 0:
                    self._client.ack(handle.mid, handle.qos)
                done += 1
        return done

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain)
