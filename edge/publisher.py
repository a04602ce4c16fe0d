"""MQTT publishing from the outbox: batches, QoS 1, PUBACK before delete, reconnect, status.

The publisher drains :class:`~edge.outbox.Outbox` into batches (one :class:`schemas.Batch` per
MQTT message), keeps up to ``max_inflight`` messages awaiting their PUBACK, and removes a
batch's rows only when a PUBACK confirmed delivery. After a lost connection it reconnects with
jittered exponential backoff and sends again everything still stored (the hub deduplicates by
observation id). The gateway status topic carries a retained birth message, a periodic
heartbeat, and a retained Last Will (``kind = death, online = false``).

It speaks MQTT 5, whose PUBACK carries a reason code. Mosquitto answers 0x10 "No matching
subscribers" when no hub session subscribes to the topic (after a broker restart that lost a
shared subscription, or before the hub's first start): the message went nowhere. Such a
PUBACK, or any failure code (0x80 and up, e.g. 0x87 "Not authorized"), deletes nothing: the
rows stay, and after a jittered backoff (the reconnect delays) everything still in the outbox
is sent again on the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import EdgeConfig
from edge.errors import PublishError
from edge.mqtt_diagnose import (
    KnownCauseFilter,
    LostBeforeConnackError,
    RecordingContext,
    RefusalReporter,
    tls_context,
)
from edge.outbox import Outbox, OutboxRow
from foundation.clock import Clock, utcnow
from foundation.mqtt_client import MqttClient
from schemas.models import MAX_PAYLOAD_BYTES, GatewayStatus, StatusKind, encode
from schemas.topics import observations_topic, status_topic

__all__ = [
    "NO_MATCHING_SUBSCRIBERS",
    "AckingClient",
    "Publisher",
    "backoff_delays",
    "batch_envelope",
    "split_batches",
]

log = logging.getLogger("hjem.edge.mqtt")
_paho_log = logging.getLogger("hjem.edge.paho")
_paho_log.addFilter(KnownCauseFilter())  # its per-retry TLS alert line: told once, by us

_PAYLOAD_BUDGET = MAX_PAYLOAD_BYTES - 4096  # room for the envelope
NO_MATCHING_SUBSCRIBERS = 0x10
"""MQTT 5 PUBACK reason code: accepted, but no subscription matched, so nobody gets it."""

StatusSource = Callable[[StatusKind], GatewayStatus]
T = TypeVar("T")


def split_batches(
    rows: Sequence[OutboxRow], max_observations: int, max_bytes: int = _PAYLOAD_BUDGET
) -> list[list[OutboxRow]]:
    """Cut rows (in order) into batches of at most ``max_observations`` and ``max_bytes``.

    A row whose observation id is already in the batch is left out (it is the same reading,
    e.g. a device that sent a stored measurement again; a Batch must not repeat an id), but
    it stays inside the batch's sequence range, so it is deleted with the batch.
    """
    batches: list[list[OutboxRow]] = []
    current: list[OutboxRow] = []
    ids: set[str] = set()
    size = 0
    for row in rows:
        if row.obs_id and row.obs_id in ids:
            continue
        if current and (len(current) >= max_observations or size + len(row.body) > max_bytes):
            batches.append(current)
            current, size, ids = [], 0, set()
        ids.add(row.obs_id)
        current.append(row)
        size += len(row.body) + 1
    if current:
        batches.append(current)
    return batches


def batch_envelope(
    publisher: str, message_id: str, sent: datetime, bodies: Sequence[bytes]
) -> bytes:
    """The wire form of a Batch around already-encoded observations (as schemas.encode gives)."""
    stamp = sent.astimezone(UTC).isoformat().replace("+00:00", "Z")
    head = (
        f'{{"schema":"hjem/1","message_id":"{message_id}","publisher":"{publisher}",'
        f'"sent":"{stamp}","observations":['
    ).encode()
    return head + b",".join(bodies) + b"]}"


def backoff_delays(
    minimum: float, maximum: float, rng: random.Random | None = None
) -> Callable[[int], float]:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(max, minimum * 2**n))."""
    chooser = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def delay(attempt: int) -> float:
        ceiling = min(maximum, minimum * (2 ** min(attempt, 30)))
        return minimum / 2 + chooser.uniform(0, ceiling)

    return delay


class AckingClient(MqttClient):
    """aiomqtt's client that also tells the reason code of a QoS 1 PUBACK (MQTT 5).

    aiomqtt's ``publish`` drops the reason code; :meth:`publish_qos1` follows its steps
    (paho's publish, then wait for the PUBACK under the same pending-call bookkeeping).

    Every wait of the client (CONNACK, PUBACK, the end of the connection) never loses a
    cancellation (foundation.mqtt_client): aiomqtt's ``asyncio.wait_for``, before Python
    3.12, returns the result instead of raising when the task is cancelled just as the
    awaited PUBACK arrives (CPython gh-86296). The heartbeat then published on and the
    publisher never ended on shutdown.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reasons: dict[int, int] = {}

    async def publish_qos1(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and wait for the PUBACK; return its reason code (0: delivered)."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            lost = self._disconnected.exception() if self._disconnected.done() else None
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message") from lost
        done = asyncio.Event()
        with self._pending_call(info.mid, done, self._pending_publishes):
            await self._wait_for(done.wait(), timeout=None)
        return self._reasons.pop(info.mid, 0)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason_code.value and mid in self._pending_publishes:
            self._reasons[mid] = reason_code.value
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def _on_disconnect(self, client: paho.Client, userdata: Any, *args: Any) -> None:
        super()._on_disconnect(client, userdata, *args)  # aiomqtt's own handling, always
        # A connection lost before the CONNACK (e.g. a TLS alert on the first read) would
        # leave __aenter__ waiting for its whole timeout: fail the attempt now. The lock is
        # held from __aenter__ on, and released when the attempt fails.
        if not self._connected.done() and self._lock.locked():
            self._connected.set_exception(LostBeforeConnackError("connection lost before CONNACK"))


@dataclass
class PublisherStats:
    published_messages: int = 0
    published_observations: int = 0
    connects: int = 0
    connection_losses: int = 0
    not_delivered: int = 0  # PUBACKs with a reason code other than 0: rows kept, sent again


class Publisher:
    """Drains the outbox to the broker for as long as :meth:`run` runs."""

    def __init__(
        self,
        config: EdgeConfig,
        outbox: Outbox,
        status: StatusSource,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.status = status
        self.clock = clock
        self.stats = PublisherStats()
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._delay = backoff_delays(config.mqtt.reconnect_min_s, config.mqtt.reconnect_max_s)
        self._obs_topic = observations_topic(config.gateway_id)
        self._status_topic = status_topic(config.gateway_id)
        self._current: aiomqtt.Client | None = None
        self._acked: list[tuple[int, int]] = []
        self._acked_event = asyncio.Event()
        self._refused: int | None = None  # the last PUBACK reason code that kept rows
        self._refusals = 0  # consecutive refusals: the backoff attempt
        self._report = RefusalReporter(config, log)  # why a connection attempt failed

    def wake(self) -> None:
        """Tell the publisher that new rows are in the outbox."""
        self._wake.set()

    async def run(self) -> None:
        """Connect, drain and heartbeat; reconnect with backoff whenever the connection fails."""
        attempt = 0
        while True:
            try:
                async with self._client() as client:
                    self._current = client
                    client.pending_calls_threshold = self.config.mqtt.max_inflight * 2 + 10
                    attempt = 0
                    self._report.connected()
                    self.stats.connects += 1
                    log.info(
                        "connected to %s as %s", self.config.mqtt.url, self.config.mqtt_username
                    )
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                self.connected.clear()
                self.stats.connection_losses += 1
                delay = self._delay(attempt)
                attempt += 1
                self._report.failed(group.exceptions, delay, self.outbox.depth)
                await asyncio.sleep(delay)

    async def publish_death(self) -> None:
        """Publish the death status on an orderly shutdown (the Will covers the other cases)."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with self._client() as client:
                await client.publish(
                    self._status_topic,
                    encode(self.status(StatusKind.DEATH)),
                    qos=1,
                    retain=True,
                    timeout=5,
                )

    def _client(self) -> AckingClient:
        cfg = self.config.mqtt
        will = aiomqtt.Will(
            self._status_topic, encode(self.status(StatusKind.DEATH)), qos=1, retain=True
        )
        return AckingClient(
            cfg.host,
            cfg.port,
            protocol=aiomqtt.ProtocolVersion.V5,
            username=self.config.mqtt_username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            identifier=cfg.client_id or f"hjem-edge-{self.config.gateway_id}",
            will=will,
            keepalive=cfg.keepalive_s,
            timeout=10,
            max_inflight_messages=cfg.max_inflight * 2,
            tls_context=self._new_tls_context() if cfg.tls else None,
            logger=_paho_log,
        )

    def _new_tls_context(self) -> RecordingContext:
        self._report.tls = _tls_context(self.config)
        return self._report.tls

    async def _session(self, client: AckingClient) -> None:
        await client.publish(
            self._status_topic, encode(self.status(StatusKind.BIRTH)), qos=1, retain=True
        )
        self.connected.set()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._drain(client), name="mqtt-drain")
            tg.create_task(self._heartbeat(client), name="mqtt-heartbeat")
            tg.create_task(self._reap(), name="mqtt-reap")

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_s)
            await client.publish(
                self._status_topic, encode(self.status(StatusKind.HEARTBEAT)), qos=1, retain=True
            )

    def _delete_acknowledged(self) -> None:
        acked, self._acked = self._acked, []
        if acked:
            self.outbox.remove_ranges(acked)

    async def _reap(self) -> None:
        """Delete acknowledged rows, several messages per transaction."""
        try:
            while True:
                await self._acked_event.wait()
                self._acked_event.clear()
                self._delete_acknowledged()
                await asyncio.sleep(0.005)  # let more PUBACKs gather
        finally:
            self._delete_acknowledged()

    async def _drain(self, client: AckingClient) -> None:
        cfg = self.config.mqtt
        slots = asyncio.Semaphore(cfg.max_inflight)
        self._delete_acknowledged()
        self._refused = None
        cursor = 0  # everything after a reconnect is sent again: rows leave only on PUBACK
        async with asyncio.TaskGroup() as tg:
            while True:
                if self._must_back_off():
                    await self._back_off(slots, cfg.max_inflight)
                    cursor = 0  # send again everything the outbox still holds
                self._wake.clear()
                rows = self.outbox.take(cfg.batch_max_observations * 4, cursor)
                if not rows:
                    await self._wake.wait()
                    if cfg.batch_linger_s:
                        await asyncio.sleep(cfg.batch_linger_s)
                    continue
                for batch in split_batches(rows, cfg.batch_max_observations):
                    await slots.acquire()
                    cursor = batch[-1].seq
                    tg.create_task(self._send(client, batch, slots))

    def _must_back_off(self) -> bool:
        return self._refused is not None  # set by _send in another task

    async def _back_off(self, slots: asyncio.Semaphore, inflight: int) -> None:
        """After a PUBACK that did not confirm delivery: let the messages in flight finish,
        wait (jittered, growing), then the drain starts again from the outbox's first row."""
        for _ in range(inflight):
            await slots.acquire()
        for _ in range(inflight):
            slots.release()
        self._delete_acknowledged()
        reason, self._refused = self._refused, None
        delay = self._delay(self._refusals)
        self._refusals += 1
        text = "No matching subscribers: no hub session subscribes" if reason == 0x10 else ""
        log.warning(
            "MQTT %s: PUBACK reason code 0x%02x%s; kept in the outbox (%d rows), "
            "sending again in %.1f s",
            self.config.mqtt.url,
            reason or 0,
            f" ({text})" if text else "",
            self.outbox.depth,
            delay,
        )
        await asyncio.sleep(delay)

    async def _send(
        self, client: AckingClient, batch: list[OutboxRow], slots: asyncio.Semaphore
    ) -> None:
        try:
            message_id = f"{self.config.gateway_id}-{batch[0].seq}-{secrets.token_hex(4)}"
            payload = batch_envelope(
                self.config.gateway_id, message_id, self.clock(), [r.body for r in batch]
            )
            reason = await client.publish_qos1(self._obs_topic, payload)
            if reason:  # not delivered: the rows stay; the drain backs off and sends again
                self._refused = reason
                self.stats.not_delivered += 1
                self._wake.set()
                return
            self._refusals = 0
            self._acked.append((batch[0].seq, batch[-1].seq))
            self._acked_event.set()
            self.stats.published_messages += 1
            self.stats.published_observations += len(batch)
        finally:
            slots.release()


def _tls_context(config: EdgeConfig) -> RecordingContext:
    cfg = config.mqtt
    try:
        return tls_context(
            str(cfg.ca_file) if cfg.ca_file else None,
            str(cfg.cert_file) if cfg.cert_file else None,
            str(cfg.key_file) if cfg.key_file else None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise PublishError(cfg.url, f"cannot load the TLS files: {exc}") from exc
