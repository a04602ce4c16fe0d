"""The running hub: an async context manager that owns a TaskGroup with named tasks.

Tasks: ``ingest`` (MQTT batches -> commit -> acknowledge -> reply -> listeners), ``status``
(gateway silence timeout and retention) and ``api`` (uvicorn serving :func:`hub.app.create_app`).

Store faults (a lock held elsewhere, a full disk): the failed transaction rolls back,
nothing is acknowledged, and ingest retries with backoff in the event loop while the API
keeps serving; ``health.fault`` describes the fault meanwhile (:mod:`hub.store.health`).

Post-commit hook: after observations are durably stored (the transaction committed and
the MQTT messages acknowledged) the hub awaits every registered listener with a
:class:`StoredBatch` of the *newly* stored observations (redeliveries excluded), each with
its resolved resident; gateway online/offline changes arrive as
:class:`~hub.registry.gateways.GatewayChange`. ``add_listener`` awaits listeners one by one in the
ingest task (a slow listener slows ingest, an exception in a listener stops the hub);
``events()`` is an async iterator over the same events with its own bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType

from foundation.clock import Clock, utcnow
from hub.alerts.service import AlertService
from hub.auth import Authenticator
from hub.compose import Services, close_services, open_services
from hub.config import HubSettings
from hub.db import Connection, transaction
from hub.errors import HubError
from hub.events import HubEvent, Listener, StoredBatch
from hub.events_log import AlertLog, log_gateway_change, log_rejections
from hub.fhir.push.wiring import PushWiring, build_push
from hub.ingest.commit import Inbound, Ingestor, Processed
from hub.ingest.notices import Notices
from hub.ingest.verdicts import RELAY_JUDGE
from hub.mqtt.connection import MqttConnection
from hub.registry.core import Registry
from hub.registry.gateways import GatewayChange, Gateways
from hub.registry.read_model import ReadModel
from hub.runtime import tune_gc
from hub.status.metrics import HubMetrics
from hub.status.monitor import StatusMonitor
from hub.store.base import TimeSeriesStore
from hub.store.health import StoreHealth
from hub.store.ledger import Ledger
from schemas.models import encode

__all__ = ["Hub", "HubEvent", "HubNotOpenError", "Listener", "StoredBatch", "tune_gc"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


@dataclass
class _Tasks:
    group: asyncio.TaskGroup = field(default_factory=asyncio.TaskGroup)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _escalation_levels(alerts: AlertService) -> dict[str, int]:
    """Escalation level of each open alert, so that the alert log tells an escalation."""
    return {row.id: row.escalation_level for row in alerts.engine.store.open_alerts()}


class HubNotOpenError(HubError):
    """A component of the hub was asked for before the hub was opened."""


class Hub:
    """``async with Hub(settings) as hub:`` runs ingest, status and the HTTP API.

    Constructing a hub does no I/O. Entering it (or :meth:`open`, for tests and tools that
    use its components without running it) builds the components from the settings through
    the composition root (:func:`hub.compose.open_services`): opens and migrates the
    database, loads the alert rules; leaving it closes them.
    """

    _http_socket: socket.socket | None = None
    """The API's listening socket; closed on leaving even when uvicorn was cancelled."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        clock: Clock = utcnow,
        mqtt: bool = True,
        alerts: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.uses_mqtt = mqtt
        """Ingest from the broker and publish alerts there (False: HTTP only, for tests)."""
        self.alerts_enabled = alerts
        """Build the alert service (False: ingest and storage only, as the ingest benchmark)."""
        self._listeners: list[Listener] = []
        self.notices = Notices()
        """Notices to publishers over MQTT (unassigned device, unknown code), rate-limited."""
        self._own_listeners: list[Callable[[], None]] = []
        """Removers of the listeners :meth:`open` registered (alerts, status)."""
        self._tasks = _Tasks()
        self._mqtt: MqttConnection | None = None
        self._server: object = None
        self._http_port: int | None = None
        self._services: Services | None = None
        self._status: StatusMonitor | None = None
        self._push: PushWiring | None = None
        """The FHIR push exporter (hub.fhir.push), when [fhir_push] names recipients."""
        self.stored_here = 0
        """Observations this process stored for the first time (for logs and tests)."""
        self.metrics = HubMetrics(self)
        """Prometheus metrics of this hub, served at /metrics (hub.status.metrics)."""

    # -- components ------------------------------------------------------------------------

    def open(self) -> Services:
        """Build the components (once): open and migrate the database, load the rules."""
        if self._services is not None:
            return self._services
        services = open_services(
            self.settings, self.clock, publish_alerts=self.uses_mqtt, alerts=self.alerts_enabled
        )
        self._services = services
        try:
            if services.alerts is not None:
                self._own_listeners.append(self.add_listener(services.alerts.listener))
                alerts = services.alerts.service
                alerts.engine.add_listener(AlertLog(_escalation_levels(alerts)))
            self._status = StatusMonitor(
                services,
                transport=(lambda: self._mqtt) if self.uses_mqtt else None,
                add_listener=self.add_listener,
            )
            self._own_listeners.append(self._status.remove_listener)
            self._push = build_push(services, self.add_listener, self.metrics.registry)
            if self._push is not None:
                self._own_listeners.append(self._push.close)
        except BaseException:
            self.close()
            raise
        return services

    def close(self) -> None:
        """Close the database and the store (the hub may be opened again)."""
        services, self._services = self._services, None
        self._status = None
        self._push = None
        while self._own_listeners:
            self._own_listeners.pop()()
        if services is not None:
            close_services(services)

    @property
    def services(self) -> Services:
        if self._services is None:
            raise HubNotOpenError("the hub is not open: enter it (async with) or call open()")
        return self._services

    @property
    def conn(self) -> Connection:
        return self.services.conn

    @property
    def health(self) -> StoreHealth:
        """Store faults: ingest pauses (nothing acknowledged) and retries; hub.store.health."""
        return self.services.health

    @property
    def registry(self) -> Registry:
        return self.services.registry

    @property
    def read_model(self) -> ReadModel:
        return self.services.read_model

    @property
    def ledger(self) -> Ledger:
        return self.services.ledger

    @property
    def gateways(self) -> Gateways:
        return self.services.gateways

    @property
    def store(self) -> TimeSeriesStore:
        return self.services.store

    @property
    def ingestor(self) -> Ingestor:
        return self.services.ingestor

    @property
    def auth(self) -> Authenticator:
        """Staff authentication for the dashboard and the API (with or without alerts)."""
        return self.services.auth

    @property
    def alerts(self) -> AlertService | None:
        """The alert service (hub.alerts.wiring), running while the hub runs."""
        wiring = self.services.alerts
        return wiring.service if wiring is not None else None

    @property
    def push(self) -> PushWiring | None:
        """The FHIR push exporter (None without recipients); hub.fhir.push."""
        return self._push

    @property
    def status(self) -> StatusMonitor:
        """Can the hub vouch for calm? (hub.status: the board's banner, /readyz)"""
        if self._status is None:
            raise HubNotOpenError("the hub is not open: enter it (async with) or call open()")
        return self._status

    # -- listeners -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after each commit; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def events(self, maxsize: int = 10_000) -> AsyncIterator[HubEvent]:
        """Every event after it is committed, through a bounded queue (ingest waits if full)."""
        queue: asyncio.Queue[HubEvent] = asyncio.Queue(maxsize)
        remove = self.add_listener(queue.put)
        try:
            while True:
                yield await queue.get()
        finally:
            remove()

    async def _notify(self, processed: Processed, transport: str) -> None:
        self.stored_here += len(processed.stored)
        log_rejections(processed.judgements)
        for change in processed.changes:
            log_gateway_change(change)
        events: list[HubEvent] = list(processed.changes)
        if processed.stored:
            events.insert(0, StoredBatch(tuple(processed.stored), transport, self.clock()))
        for event in events:
            for listener in list(self._listeners):
                await listener(event)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def http_port(self) -> int | None:
        """The port the API listens on (useful with ``http.port = 0``)."""
        return self._http_port

    @property
    def mqtt(self) -> MqttConnection | None:
        return self._mqtt

    async def __aenter__(self) -> Hub:
        self.open()
        try:
            await self._tasks.group.__aenter__()
        except BaseException:
            self.close()
            raise
        try:
            if self.uses_mqtt:
                self._mqtt = MqttConnection(
                    self.settings.mqtt, self.settings.ingest, judge=RELAY_JUDGE, clock=self.clock
                )
                await self._mqtt.start()
                self._spawn(self._ingest_loop(self._mqtt), "ingest")
            self._spawn(self._status_loop(), "status")
            self._spawn(self.status.run(), "status-monitor")
            if self._push is not None:
                self._spawn(self._push.run(), "fhir-push")
            if self.alerts is not None:
                await self.alerts.__aenter__()
            if self.settings.http.enabled:
                await self._start_api()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.tasks.append(self._tasks.group.create_task(coro, name=name))  # type: ignore[arg-type]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.should_exit = True  # type: ignore[attr-defined]
        for task in self._tasks.tasks:
            if task.get_name() != "api":
                task.cancel()
        if self.alerts is not None:
            await self._stop_alerts()
        try:
            await self._tasks.group.__aexit__(exc_type, exc, tb)
        finally:
            if self._http_socket is not None:  # uvicorn closes it, unless it was cancelled
                self._http_socket.close()  # (the body raised: the TaskGroup cancels "api")
            if self._mqtt is not None:
                self._mqtt.stop()
            self.close()

    async def _stop_alerts(self) -> None:
        """Stop the alert service, bounded: a stuck child task must not keep the hub alive.

        A timeout cancels the waiting TaskGroup exit, which cancels its children a second
        time; that ends an MQTT client whose first cancellation was lost.
        """
        assert self.alerts is not None
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self.alerts.__aexit__(None, None, None)
        except TimeoutError:
            log.warning("the alert service did not stop within %.0f s; stopped it", STOP_TIMEOUT_S)

    async def _start_api(self) -> None:
        import uvicorn

        from hub.app import create_app

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield  # the owner of the process handles signals

        http = self.settings.http
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._http_socket = sock
        sock.bind((http.host, http.port))
        self._http_port = int(sock.getsockname()[1])
        # Forwarded headers only from configured proxies: uvicorn's default believes
        # X-Forwarded-For from loopback, which would let anyone there pick their address.
        proxies = list(http.forwarded_allow_ips)
        config = uvicorn.Config(
            create_app(self),
            log_level="warning",
            lifespan="off",
            ws="none",  # no WebSocket route (live updates are SSE); and websockets>=14 warns
            access_log=False,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
        server = _Server(config)
        self._server = server
        self._spawn(server.serve(sockets=[sock]), "api")
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)

    # -- work ------------------------------------------------------------------------------

    async def _commit(self, group: list[Inbound]) -> Processed:
        """Judge and commit ``group``; on a store fault retry (backoff) until it succeeds."""
        started = time.perf_counter()
        processed = await self.health.retry(
            f"commit of {len(group)} messages", lambda: self.ingestor.process(group)
        )
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        return processed

    async def _ingest_loop(self, mqtt: MqttConnection) -> None:
        async for group in mqtt.batches():
            processed = await self._commit(group)
            mqtt.ack(group)
            for judgement in processed.judgements:
                topic = judgement.reply_topic
                if topic is not None and judgement.rejection is not None:
                    mqtt.publish(topic, encode(judgement.rejection))
            for topic, payload in self.notices.messages(processed.judgements, self.clock()):
                mqtt.publish(topic, payload)
            await self._notify(processed, "mqtt")

    async def ingest_http(self, publisher: str, payload: bytes) -> Processed:
        """Validate and store a vendor's HTTP batch exactly like an MQTT message."""
        inbound = Inbound(
            topic=f"hjem/v1/{publisher}/obs",
            payload=payload,
            received=self.clock(),
            transport="http",
        )
        processed = await self._commit([inbound])
        await self._notify(processed, "http")
        return processed

    async def _status_loop(self) -> None:
        timeout = timedelta(seconds=self.settings.ingest.gateway_timeout_s)
        retention = self.settings.retention
        next_retention = self.clock()
        while True:
            now = self.clock()
            changes = await self.health.retry(
                "gateway status", functools.partial(self._expire_gateways, now, timeout)
            )
            for change in changes:
                log_gateway_change(change)
                for listener in list(self._listeners):
                    await listener(change)
            if now >= next_retention:
                await self.health.retry("retention", functools.partial(self.apply_retention, now))
                next_retention = now + timedelta(seconds=retention.interval_s)
            await asyncio.sleep(min(5.0, timeout.total_seconds() / 4))

    def _expire_gateways(self, now: datetime, timeout: timedelta) -> list[GatewayChange]:
        with transaction(self.conn, operation="gateway status"):
            return self.gateways.expire(now, timeout)

    def apply_retention(self, now: datetime) -> int:
        deleted = self.store.apply_retention(now)
        with transaction(self.conn):
            deleted += self.ledger.delete_before(
                now - timedelta(days=self.settings.retention.dead_letter_days)
            )
        return deleted
