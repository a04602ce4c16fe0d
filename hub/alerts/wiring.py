"""Wiring the alert engine into the hub, for the composition root (:mod:`hub.compose`).

``build_alerts(settings, conn, clock, read_model, health, publish=…)`` loads the rules file of
``[alerts]`` (refusing a hub with no enabled rule unless ``[alerts] enabled = false``), builds
the engine on the hub's SQLite connection and clock and returns an :class:`AlertWiring`: the
service, which the hub enters when it starts and leaves when it stops, and its post-commit
listener (stored observations with their resident, gateway online/offline changes), which
the hub registers.

Home, organisation and room come from the registry's read model
(:class:`hub.registry.read_model.ReadModel`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from foundation.clock import Clock
from foundation.settings import BrokerSettings
from hub.alerts.config import RulesConfig, load_rules
from hub.alerts.durable import DurableEngine, EngineState
from hub.alerts.errors import STORE_ERRORS, AlertsError, NoRulesError
from hub.alerts.feed import AlertFeed, GatewayFeed
from hub.alerts.inputs import GatewayInput, ObservationInput, Subject
from hub.alerts.live import AlertRelay
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.alerts.store import AlertStore
from hub.db import Connection
from hub.events import HubEvent, StoredBatch
from hub.registry.gateways import GatewayChange, Gateways
from hub.registry.read_model import ReadModel
from schemas.models import GatewayStatus, StatusKind

if TYPE_CHECKING:
    from hub.leadership import Leadership
    from hub.store.base import StoredObservation, TimeSeriesStore
    from hub.store.health import StoreHealth

__all__ = ["AlertWiring", "Directory", "build_alerts", "load_enabled_rules"]

log = logging.getLogger(__name__)


class Directory:
    """The alert engine's view of the registry's read model: subjects and inputs."""

    def __init__(self, places: ReadModel) -> None:
        self.places = places

    def subjects(self) -> list[Subject]:
        self.places.refresh()
        return [Subject(f"resident:{r}", r, h, o) for r, (h, o) in self.places.residents.items()]

    def observations(self, stored: StoredBatch) -> list[ObservationInput]:
        return self.inputs(stored.observations)

    def inputs(self, stored: Sequence[StoredObservation]) -> list[ObservationInput]:
        places = self.places
        places.refresh()
        out = []
        for item in stored:
            resident = item.resident_id
            home, org = places.resident_place(resident)
            room = places.rooms.get(item.device_id)
            scale = places.spo2_scale(resident)
            out.append(ObservationInput(item.reading, resident, home, org, room, scale))
        return out

    def gateway(self, publisher: str, status: GatewayStatus) -> GatewayInput:
        self.places.refresh()
        home, org = self.places.publisher_place(publisher)
        return GatewayInput(status, home, org, changes_only=True)

    def change(self, change: GatewayChange) -> GatewayInput:
        """A gateway's change of online as the rules see it: its status message, or (a
        timeout, data after one) a heartbeat or death at the change's time."""
        status = change.status
        if status is None or status.online != change.online:
            kind = StatusKind.HEARTBEAT if change.online else StatusKind.DEATH
            status = GatewayStatus(
                publisher=change.publisher, kind=kind, online=change.online, time=change.time
            )
        return self.gateway(change.publisher, status)


LAG_WARNING = timedelta(seconds=1)


def _note_lag(batch: StoredBatch, service: AlertService) -> None:
    """Log when observations reach the alert engine late (MQTT arrival to listener)."""
    if not batch.observations:
        return
    lag = service.engine.clock() - min(item.received for item in batch.observations)
    if lag > LAG_WARNING:
        log.warning(
            "alert input lags: %d observations arrived %.2f s before they reached the rules",
            len(batch.observations),
            lag.total_seconds(),
        )


def _listener(
    service: AlertService,
    directory: Directory,
    health: StoreHealth,
    feed: AlertFeed | None,
    gateway_feed: GatewayFeed | None,
) -> Callable[[HubEvent], Awaitable[None]]:
    async def on_event(event: HubEvent) -> None:
        if service.leadership is not None and not service.leading:
            return  # another hub node evaluates (it reads the feed, whoever stored it)
        if isinstance(event, StoredBatch):
            _note_lag(event, service)
            if feed is not None:  # only a wake-up: the feed reads the store from its position
                await _evaluate(health, feed.drain)
            else:
                await _evaluate(health, lambda: service.observe(directory.observations(event)))
        elif isinstance(event, GatewayChange):
            if gateway_feed is not None:  # only a wake-up: the journal holds the change
                await _evaluate(health, gateway_feed.drain)
            else:
                await _evaluate(health, lambda: service.gateway(directory.change(event)))

    return on_event


async def _evaluate(health: StoreHealth, evaluation: Callable[[], object]) -> None:
    """Run an alert evaluation; while the database cannot store its result, retry with
    backoff (ingest waits meanwhile, so nothing more is acknowledged and no alert is lost)."""
    try:
        await health.retry(
            "alert evaluation", evaluation, errors=STORE_ERRORS, proves_writable=False
        )
    except AlertsError:
        log.exception("alert evaluation failed; the observations are stored regardless")


def _numbers(store: TimeSeriesStore) -> bool:
    """Whether ``store`` numbers its observations (SQLite, PostgreSQL; not InfluxDB)."""
    from hub.store.base import TimeSeriesStore

    return type(store).stored_since is not TimeSeriesStore.stored_since


def load_enabled_rules(settings: AlertSettings) -> RulesConfig:
    """The rules of ``[alerts]``, logged in one line; no rule at all is refused.

    Raises :class:`NoRulesError` when alerts are enabled (the default) but no rules file is
    set or the file has no enabled rule, and :class:`RulesConfigError` for a wrong file.
    """
    if not settings.enabled:
        ignored = f"; rules_file {settings.rules_file} not loaded" if settings.rules_file else ""
        log.warning(
            "alert rules: none, alerts disabled ([alerts] enabled = false)%s;"
            " this hub raises no alert",
            ignored,
        )
        return RulesConfig(rules=[])
    if settings.rules_file is None:
        raise NoRulesError("[alerts] rules_file is not set")
    config = load_rules(settings.rules_file)
    enabled = sum(1 for rule in config.rules if rule.enabled)
    if enabled == 0:
        raise NoRulesError(f"[alerts] rules_file {settings.rules_file} has no enabled rule")
    log.info(
        "alert rules: %d loaded (%d enabled) from %s",
        len(config.rules),
        enabled,
        settings.rules_file,
    )
    return config


@dataclass(frozen=True, slots=True)
class AlertWiring:
    """The alert service and the listener the hub registers for it."""

    service: AlertService
    listener: Callable[[HubEvent], Awaitable[None]]


def build_alerts(
    settings: AlertSettings,
    conn: Connection,
    clock: Clock,
    places: ReadModel,
    health: StoreHealth,
    *,
    mqtt: BrokerSettings | None = None,
    store: TimeSeriesStore | None = None,
    leadership: Leadership | None = None,
    live_dsn: str | None = None,
    gateways: Gateways | None = None,
) -> AlertWiring:
    """Build the alert service and its post-commit listener (no I/O but reading the rules).

    ``mqtt``: the broker the service publishes alerts to (None: it publishes none). Raises
    :class:`RulesConfigError` (a ``HubError``) for a wrong rules file and
    :class:`NoRulesError` for none (see :func:`load_enabled_rules`). Start the service with
    ``await service.__aenter__()``.

    The engine keeps its rule state in the database (:mod:`hub.alerts.durable`). With a
    ``store`` that numbers its observations, it reads them from the store's feed
    (:mod:`hub.alerts.feed`) and the listener only wakes it; without, the listener hands it
    the observations each commit stored. With a ``leadership`` (hub nodes sharing one
    PostgreSQL) this node evaluates only while it leads; with ``live_dsn`` (the PostgreSQL
    they share) its live stream hears every node's alert changes (:mod:`hub.alerts.live`).
    With ``gateways`` journalling their changes, the engine reads gateway changes from the
    journal (:class:`~hub.alerts.feed.GatewayFeed`), whichever node recorded them.
    """
    config = load_enabled_rules(settings)
    channels = settings.channels(mqtt)
    engine = DurableEngine(config, AlertStore(conn), clock, EngineState(conn), channels=channels)
    directory = Directory(places)
    engine.track(directory.subjects())
    feed = None
    if store is not None and _numbers(store):
        feed = engine.feed = AlertFeed(engine, store, directory.inputs)
        feed.start()  # before ingest: nothing stored from now on escapes evaluation
    gateway_feed = None
    if gateways is not None and gateways.journal:
        gateway_feed = engine.gateway_feed = GatewayFeed(engine, gateways, directory.change)
    service = AlertService(engine, settings, mqtt, health=health, leadership=leadership)
    if live_dsn is not None:
        node = leadership.node if leadership is not None else "hub"
        service.relay = AlertRelay(live_dsn, conn, service.broadcaster, node=node)
    return AlertWiring(service, _listener(service, directory, health, feed, gateway_feed))
