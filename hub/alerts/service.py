"""The alert service: the engine plus its I/O shell, as one async context manager.

It owns a TaskGroup with named tasks: ``alerts-tick`` (time-based rules and escalation),
``alerts-mqtt`` (retained AlertEvents, reconnecting) and ``alerts-webhook`` (signed POSTs),
both delivering from the persistent outbox. Events go to the live :class:`Broadcaster` as
soon as they are committed.

With a :class:`~hub.leadership.Leadership` (hub nodes sharing one PostgreSQL), those tasks
run only while this node leads (task ``alerts-leadership`` follows the changes): exactly one
node evaluates rules and delivers the outbox; on taking over, the engine first goes back to
what is committed (:meth:`AlertEngine.resume`). Every node keeps its live stream and its
users' actions (acknowledge, resolve, silences); its :class:`~hub.alerts.live.AlertRelay`
(task ``alerts-live``) brings the changes every node commits to its live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import aiomqtt
import httpx

from foundation.mqtt_client import MqttClient
from foundation.settings import BrokerSettings
from foundation.waiting import wait_for
from hub.alerts.engine import AlertEngine
from hub.alerts.errors import STORE_ERRORS
from hub.alerts.inputs import GatewayInput, ObservationInput
from hub.alerts.notify import (
    Backoff,
    Broadcaster,
    ConnectionLostError,
    MqttSender,
    OutboxDispatcher,
    WebhookSender,
)
from hub.alerts.settings import AlertSettings
from schemas.models import AlertEvent

if TYPE_CHECKING:
    from hub.alerts.live import AlertRelay
    from hub.leadership import Leadership
    from hub.store.health import StoreHealth

__all__ = ["AlertService", "AlertSettings"]

log = logging.getLogger(__name__)


def _tls(target: BrokerSettings) -> aiomqtt.TLSParameters | None:
    if target.tls is None:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(target.ca_file) if target.ca_file else None,
        certfile=str(target.cert_file) if target.cert_file else None,
        keyfile=str(target.key_file) if target.key_file else None,
    )


class AlertService:
    """Run an :class:`AlertEngine` with its notifiers. Use ``async with``."""

    def __init__(
        self,
        engine: AlertEngine,
        settings: AlertSettings,
        mqtt: BrokerSettings | None = None,
        *,
        health: StoreHealth | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.engine = engine
        self.leadership = leadership
        """None: this node alone evaluates, from the start."""
        self.leading = False
        """Whether this node evaluates rules now."""
        self._health = health
        """The hub's store health: a tick that cannot be stored is retried and shown there."""
        self.settings = settings
        self.mqtt = mqtt if settings.mqtt else None
        self.broadcaster = Broadcaster()
        self._backoff = Backoff(
            settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_max_attempts
        )
        self._dispatchers: list[OutboxDispatcher] = []
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._tick_wake = asyncio.Event()
        self.relay: AlertRelay | None = None
        """Hub nodes on PostgreSQL: every node's changes for this node's live stream
        (task ``alerts-live``, on every node, leading or not)."""
        self.last_tick: datetime | None = None
        """When the timer last evaluated time-based rules and escalations."""
        engine.add_listener(self._on_event)

    def _on_event(self, event: AlertEvent, organisation: str | None) -> None:
        self.broadcaster.publish(event, organisation)
        for dispatcher in self._dispatchers:
            dispatcher.wake.set()

    # -- inputs (called from the hub's listener, in the event loop) -------------------------

    def observe(self, items: Iterable[ObservationInput]) -> list[AlertEvent]:
        return self.engine.observe(items)

    def gateway(self, item: GatewayInput) -> list[AlertEvent]:
        return self.engine.gateway(item)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the timer task runs (entered, not stopped, not failed), or with a
        leadership, while this node follows it (leading or not)."""
        names = ("alerts-tick", "alerts-leadership")
        return any(t.get_name() in names and not t.done() for t in self._tasks)

    async def __aenter__(self) -> AlertService:
        tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        if self.relay is not None:
            self._tasks.append(tg.create_task(self.relay.run(), name="alerts-live"))
        if self.leadership is None:
            self.leading = True
            await self._lead(tg, self._stack)
        else:
            task = tg.create_task(self._follow(self.leadership), name="alerts-leadership")
            self._tasks.append(task)
        return self

    async def _lead(
        self, tg: asyncio.TaskGroup, stack: contextlib.AsyncExitStack
    ) -> list[asyncio.Task[None]]:
        """Start the tasks of the node that evaluates: timer, MQTT and webhook delivery."""
        tasks = [tg.create_task(self._tick_loop(), name="alerts-tick")]
        if self.mqtt is not None:
            tasks.append(tg.create_task(self._mqtt_loop(self.mqtt), name="alerts-mqtt"))
        if self.settings.webhook_url:
            client = await stack.enter_async_context(
                httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)
            )
            secret = self.settings.webhook_secret
            sender = WebhookSender(
                self.settings.webhook_url,
                secret.get_secret_value().encode() if secret else b"",
                client,
                self.engine.clock,
            )
            dispatcher = OutboxDispatcher(
                self.engine.store, sender, self.engine.clock, self._backoff
            )
            self._dispatchers.append(dispatcher)
            tasks.append(tg.create_task(dispatcher.run(), name="alerts-webhook"))
        self._tasks.extend(tasks)
        return tasks

    async def _follow(self, leadership: Leadership) -> None:
        leading: asyncio.Task[None] | None = None
        try:
            async with leadership:
                async for now_leading in leadership:
                    if leading is not None:
                        await _cancelled(leading)
                        leading = None
                    self.leading = now_leading
                    self.last_tick = None
                    if now_leading:
                        leading = asyncio.create_task(self._leading(), name="alerts-leading")
        finally:
            self.leading = False
            if leading is not None:
                await _cancelled(leading)

    async def _leading(self) -> None:
        """Evaluate and deliver until cancelled (this node lost leadership, or stops)."""
        if self._health is not None:
            await self._health.retry(
                "alert takeover", self.engine.resume, errors=STORE_ERRORS, proves_writable=False
            )
        else:
            self.engine.resume()
        async with contextlib.AsyncExitStack() as stack:
            tg = await stack.enter_async_context(asyncio.TaskGroup())
            before = list(self._dispatchers)
            tasks = await self._lead(tg, stack)
            mine = [d for d in self._dispatchers if d not in before]
            try:
                await asyncio.Event().wait()
            finally:
                for task in tasks:
                    task.cancel()
                    self._tasks.remove(task)
                for dispatcher in mine:
                    self._dispatchers.remove(dispatcher)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.broadcaster.close()
        for task in self._tasks:
            task.cancel()
        await self._stack.__aexit__(exc_type, exc, tb)

    async def _tick_loop(self) -> None:
        while True:
            if self._health is not None:
                await self._health.retry(
                    "alert tick", self.engine.tick, errors=STORE_ERRORS, proves_writable=False
                )
            else:
                try:
                    self.engine.tick()
                except STORE_ERRORS:  # the next tick evaluates the same deadlines again
                    log.exception("alert tick could not be stored; trying again next tick")
            self.last_tick = self.engine.clock()
            with contextlib.suppress(TimeoutError):
                await wait_for(self._tick_wake.wait(), self.settings.tick_seconds)
            self._tick_wake.clear()

    async def _mqtt_loop(self, target: BrokerSettings) -> None:
        delay = 1.0
        while True:
            try:
                async with MqttClient(
                    target.host,
                    target.port,
                    username=target.username,
                    password=target.password.get_secret_value() if target.password else None,
                    identifier=target.client_id,
                    tls_params=_tls(target),
                ) as client:
                    delay = 1.0
                    dispatcher = OutboxDispatcher(
                        self.engine.store, MqttSender(client), self.engine.clock, self._backoff
                    )
                    self._dispatchers.append(dispatcher)
                    try:
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(dispatcher.run(), name="alerts-mqtt-send")
                            tg.create_task(_until_lost(client), name="alerts-mqtt-watch")
                    finally:
                        self._dispatchers.remove(dispatcher)
            except* (aiomqtt.MqttError, ConnectionLostError) as group:
                exc = group.exceptions[0]
                log.warning("alerts MQTT: %s; reconnecting in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until_lost(client: aiomqtt.Client) -> None:
    """Return never; raise MqttError as soon as the connection is lost (not only at the
    next publish), so the publisher reconnects while it has nothing to send."""
    async for _ in client.messages:  # nothing is subscribed: only the loss ends it
        pass
