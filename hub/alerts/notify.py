"""Notification adapters: the live broadcaster (SSE), MQTT (retained AlertEvents) and signed
webhooks, delivered from the persistent outbox with retries and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiomqtt
import httpx

from foundation.clock import Clock
from foundation.waiting import wait_for
from hub.alerts.errors import STORE_ERRORS, AlertsError
from hub.alerts.store import AlertStore, OutboxItem
from schemas.models import AlertEvent
from schemas.topics import alert_topic

__all__ = [
    "ASSIGNEE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Backoff",
    "Broadcaster",
    "ConnectionLostError",
    "DeliveryError",
    "LiveEvent",
    "MqttSender",
    "OutboxDispatcher",
    "Sender",
    "WebhookSender",
    "sign",
    "verify",
]

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Hjem-Timestamp"
SIGNATURE_HEADER = "X-Hjem-Signature"
ASSIGNEE_HEADER = "X-Hjem-Assignee"
"""The responder to notify (the current escalation step, or the acknowledging user)."""


class DeliveryError(AlertsError):
    """One delivery failed; it is retried later."""

    def __init__(self, channel: str, detail: str) -> None:
        self.channel = channel
        self.detail = detail
        super().__init__(f"{channel} delivery failed: {detail}")


class ConnectionLostError(DeliveryError):
    """The channel's connection is gone; the dispatcher must reconnect before retrying."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    event: AlertEvent
    organisation: str | None


class _Subscription:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(size)
        self.overflowed = False

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class Broadcaster:
    """In-process fan-out of alert events to live subscribers (one queue each), each
    change once (hub nodes on PostgreSQL also hear their own changes from the database,
    :mod:`hub.alerts.live`).

    A subscriber that falls ``queue_size`` events behind is disconnected (its iterator ends
    after what it has) rather than slowing the engine; the dashboard reconnects and reloads.
    """

    def __init__(self, queue_size: int = 1000, *, remember: int = 4096) -> None:
        self._size = queue_size
        self._subscribers: set[_Subscription] = set()
        self._remember = remember
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        """The latest ``(alert id, sequence)`` passed on: a change that reaches this node
        twice (its own engine, and the database's notification) is passed on once."""

    def seen(self, alert_id: str, sequence: int) -> bool:
        """Whether this change was passed on already (recently)."""
        return (alert_id, sequence) in self._seen

    def publish(self, event: AlertEvent, organisation: str | None) -> bool:
        """Pass a change to every subscriber; False: it was passed on already."""
        key = (event.alert_id, event.sequence)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        item = LiveEvent(event, organisation)
        for sub in list(self._subscribers):
            if sub.queue.full() or sub.queue.qsize() >= self._size - 1:
                sub.overflowed = True
                self._subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait(None)
                continue
            sub.queue.put_nowait(item)
        return True

    def close(self) -> None:
        """End every subscription (at shutdown, so that open streams finish)."""
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[_Subscription]:
        sub = _Subscription(self._size)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 over ``"<timestamp>." + body``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance_s: int = 300,
) -> bool:
    """Check a webhook signature and that its timestamp is within ``tolerance_s`` of ``now``."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - stamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


class Sender(Protocol):
    channel: str

    async def send(self, item: OutboxItem) -> None:
        """Deliver one event or raise :class:`DeliveryError`."""
        ...


class MqttSender:
    """Publish each event retained, QoS 1, on ``hjem/v1/hub/alerts/{alert_id}``."""

    channel = "mqtt"

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client

    async def send(self, item: OutboxItem) -> None:
        try:
            await self._client.publish(alert_topic(item.alert_id), item.payload, qos=1, retain=True)
        except aiomqtt.MqttError as exc:
            raise ConnectionLostError(self.channel, str(exc)) from exc


class WebhookSender:
    """POST the event JSON with a timestamp and an HMAC-SHA256 signature header."""

    channel = "webhook"

    def __init__(self, url: str, secret: bytes, client: httpx.AsyncClient, clock: Clock) -> None:
        self._url = url
        self._secret = secret
        self._client = client
        self._clock = clock

    async def send(self, item: OutboxItem) -> None:
        stamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, item.payload),
            "X-Hjem-Event-Id": f"{item.alert_id}:{item.sequence}",
        }
        if item.assignee:
            headers[ASSIGNEE_HEADER] = item.assignee
        try:
            response = await self._client.post(self._url, content=item.payload, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(self.channel, f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(self.channel, f"HTTP {response.status_code} from {self._url}")


@dataclass(frozen=True, slots=True)
class Backoff:
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    max_attempts: int = 20

    def delay(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts (1, 2, ...)."""
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1)))


class OutboxDispatcher:
    """Deliver one channel's due outbox rows in order; failures wait with backoff."""

    def __init__(
        self, store: AlertStore, sender: Sender, clock: Clock, backoff: Backoff | None = None
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._backoff = backoff or Backoff()
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """Try every due row once; return how many were delivered."""
        delivered = 0
        channel = self._sender.channel
        for item in self._store.due(channel, self._clock()):
            try:
                await self._sender.send(item)
            except DeliveryError as exc:
                attempts = item.attempts + 1
                give_up = attempts >= self._backoff.max_attempts
                when = self._clock() + self._backoff.delay(attempts)
                self._store.retry_later(item.id, when, exc.detail, give_up=give_up)
                log.warning(
                    "notification failed: alert %s#%d via %s (attempt %d%s): %s",
                    item.alert_id,
                    item.sequence,
                    channel,
                    attempts,
                    ", giving up" if give_up else "",
                    exc,
                    extra={
                        "event": "notification_failed",
                        "alert_id": item.alert_id,
                        "channel": channel,
                        "attempt": attempts,
                        "given_up": give_up,
                    },
                )
                if isinstance(exc, ConnectionLostError):
                    raise
                continue
            self._store.delivered(item.id, self._clock())
            delivered += 1
        return delivered

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Deliver until cancelled; wakes on :attr:`wake` or when a retry falls due."""
        while True:
            self.wake.clear()
            wait = poll_seconds
            try:
                await self.run_once()
                due = self._store.next_due(self._sender.channel)
            except STORE_ERRORS as exc:  # the database is away: the status reports it
                channel = self._sender.channel
                log.warning("notifications via %s wait for the store: %s", channel, exc)
                due = None
            if due is not None:
                wait = max(0.0, min(wait, (due - self._clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await wait_for(self.wake.wait(), timeout=wait)
