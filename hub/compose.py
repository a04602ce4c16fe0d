"""The hub's composition root: every component built from the settings, in one place.

:func:`open_services` opens the database (and migrates it), builds the store, registry,
ledger, gateway state, ingestor, staff authentication and — unless disabled — the alert
service, and hands them over as one typed :class:`Services`. Components get what they need
as arguments; none creates another or reaches into the hub. :class:`~hub.service.Hub` calls
it when it is entered (constructing a ``Hub`` does no I/O) and :func:`close_services` when it
leaves. Staff sign-in does not depend on alerts: ``Hub(alerts=False)`` still authenticates.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta

from foundation.clock import Clock
from foundation.settings import BrokerSettings
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.alerts.wiring import AlertWiring, build_alerts
from hub.auth import Authenticator, LoginThrottle, UserStore
from hub.config import HubSettings
from hub.database import open_database
from hub.db import HUB_BUSY_TIMEOUT_MS, Connection
from hub.ingest.commit import Ingestor
from hub.leadership import leadership_for
from hub.registry.core import Registry
from hub.registry.gateways import Gateways
from hub.registry.read_model import ReadModel
from hub.store.base import TimeSeriesStore
from hub.store.health import StoreHealth
from hub.store.ledger import Ledger
from hub.store.sqlite import SqliteStore

__all__ = ["Services", "close_services", "open_services"]


@dataclass(frozen=True, slots=True)
class Services:
    """The hub's components, built and wired by :func:`open_services`."""

    settings: HubSettings
    clock: Clock
    conn: Connection
    """The relational tables: the SQLite file, or PostgreSQL (:func:`_open_database`)."""
    health: StoreHealth
    registry: Registry
    read_model: ReadModel
    ledger: Ledger
    gateways: Gateways
    store: TimeSeriesStore
    ingestor: Ingestor
    auth: Authenticator
    alerts: AlertWiring | None
    """The alert service and its post-commit listener; None with ``alerts=False``."""


def _open_database(settings: HubSettings) -> Connection:
    """The hub database of the relational tables: PostgreSQL with ``store.kind =
    "postgresql"`` (then the hub keeps no state in a SQLite file), else the SQLite file."""
    return open_database(settings, busy_timeout_ms=HUB_BUSY_TIMEOUT_MS, tuned=True)


def _make_store(settings: HubSettings, conn: Connection) -> TimeSeriesStore:
    if settings.store.kind == "postgresql":
        from hub.store.postgresql import PostgresStore

        return PostgresStore.open(settings.store.postgresql, settings.retention)
    if not isinstance(conn, sqlite3.Connection):  # _open_database pairs them
        raise TypeError(f"store.kind {settings.store.kind!r} needs the SQLite file")
    if settings.store.kind == "influxdb":
        from hub.store.influx import InfluxStore

        return InfluxStore(conn, settings.store.influx)
    return SqliteStore(conn, settings.retention)


def _postgres_dsn(settings: HubSettings) -> str | None:
    """The PostgreSQL hub nodes share (their alert changes' notifications), if any."""
    if settings.store.kind != "postgresql":
        return None
    return settings.store.postgresql.dsn.get_secret_value()


def _mqtt_target(settings: HubSettings) -> BrokerSettings:
    """Where the alert service publishes: the hub's broker, with a login of its own."""
    mqtt = settings.mqtt
    # a login of its own: the broker binds client ids to logins
    return mqtt.as_login(mqtt.alerts_username, f"{mqtt.client_id}-alerts"[:64])


def _authenticator(settings: HubSettings, conn: Connection, clock: Clock) -> Authenticator:
    alerts: AlertSettings = settings.alerts
    return Authenticator(
        UserStore(conn, clock),
        LoginThrottle(clock, conn=conn),
        session_ttl=timedelta(hours=alerts.session_hours),
    )


def open_services(
    settings: HubSettings, clock: Clock, *, publish_alerts: bool = True, alerts: bool = True
) -> Services:
    """Open the database and build every component (the only I/O of setting up).

    ``publish_alerts``: the alert service publishes to the broker (False without MQTT);
    ``alerts``: build the alert service at all (False: ingest and storage only, as the ingest
    benchmark runs). Raises what opening the database or loading the rules raises, after
    closing whatever it opened.
    """
    conn = _open_database(settings)
    store: TimeSeriesStore | None = None
    try:
        health = StoreHealth(clock)
        registry = Registry(conn, clock)
        ledger = Ledger(conn)
        gateways = Gateways(conn, journal=alerts)  # the alert engine's durable input
        store = _make_store(settings, conn)
        ingestor = Ingestor(
            conn, registry=registry, store=store, ledger=ledger, gateways=gateways, clock=clock
        )
        read_model = ReadModel(conn)
        auth = _authenticator(settings, conn, clock)
        wiring = None
        if alerts:
            mqtt = _mqtt_target(settings) if publish_alerts else None
            wiring = build_alerts(
                settings.alerts,
                conn,
                clock,
                read_model,
                health,
                mqtt=mqtt,
                store=store,
                leadership=leadership_for(settings),
                live_dsn=_postgres_dsn(settings),
                gateways=gateways,
            )
    except BaseException:  # no rules, wrong rules, a database it cannot open: nothing stays open
        if store is not None:
            store.close()
        conn.close()
        raise
    return Services(
        settings,
        clock,
        conn,
        health,
        registry,
        read_model,
        ledger,
        gateways,
        store,
        ingestor,
        auth,
        wiring,
    )


def close_services(services: Services) -> None:
    services.store.close()
    services.conn.close()


def alert_service(services: Services) -> AlertService | None:
    return services.alerts.service if services.alerts is not None else None
