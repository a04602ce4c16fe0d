"""Wiring the alert engine into the running hub (:class:`hub.service.Hub`).

``build_alerts(hub)`` (called by ``Hub.__init__``) loads the rules file of ``[alerts]``
(refusing a hub with no enabled rule unless ``[alerts] enabled = false``),
builds the engine on the hub's SQLite connection and clock, registers a post-commit listener
(stored observations with their resident, gateway online/offline changes) and attaches the
staff authenticator as ``hub.auth``; the hub enters the :class:`AlertService` when it starts
and leaves it when it stops.

Home, organisation and room come from the registry tables: resident -> home -> team ->
organisation; a gateway's home from its publisher entry; a device's room is its registry
description (e.g. ``kitchen``), which inactivity rules with ``room`` match.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hub.alerts.config import RulesConfig, load_rules
from hub.alerts.engine import AlertEngine
from hub.alerts.errors import STORE_ERRORS, AlertsError, NoRulesError
from hub.alerts.inputs import GatewayInput, ObservationInput, Subject
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings, MqttTarget
from hub.alerts.store import AlertStore
from hub.auth import Authenticator, LoginThrottle, UserStore
from schemas.models import GatewayStatus, StatusKind

if TYPE_CHECKING:
    from hub.service import Hub, HubEvent, StoredBatch
    from hub.store_health import StoreHealth

__all__ = ["Directory", "FunctionClock", "build_alerts", "load_enabled_rules"]

log = logging.getLogger(__name__)

Place = tuple[str | None, str | None]  # (home, organisation)


class FunctionClock:
    """Adapt the hub's ``clock()`` callable to the alert engine's ``Clock``."""

    def __init__(self, func: Callable[[], datetime]) -> None:
        self._func = func

    def now(self) -> datetime:
        return self._func()


@dataclass
class Directory:
    """Read-only look-ups over the registry tables, rebuilt when the registry changes."""

    conn: sqlite3.Connection
    residents: dict[str, Place] = field(default_factory=dict)
    publishers: dict[str, Place] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)
    spo2_scales: dict[str, int] = field(default_factory=dict)
    """Residents a clinician put on NEWS2 SpO2 scale 2 (others are on scale 1)."""
    _version: int = -1

    def refresh(self) -> None:
        version = int(self.conn.execute("SELECT version FROM registry_meta").fetchone()[0])
        if version == self._version:
            return
        org_of_home = dict(
            self.conn.execute(
                "SELECT h.id, t.organisation_id FROM home h LEFT JOIN team t ON t.id = h.team_id"
            ).fetchall()
        )
        self.residents = {
            rid: (home, org_of_home.get(home))
            for rid, home in self.conn.execute("SELECT id, home_id FROM resident")
        }
        self.publishers = {
            pid: (home, org_of_home.get(home))
            for pid, home in self.conn.execute("SELECT id, home_id FROM publisher")
        }
        self.spo2_scales = dict(
            self.conn.execute("SELECT id, spo2_scale FROM resident WHERE spo2_scale != 1")
        )
        self.rooms = {
            did: str(desc).strip().lower()
            for did, desc in self.conn.execute("SELECT id, description FROM device")
            if desc
        }
        self._version = version

    def subjects(self) -> list[Subject]:
        self.refresh()
        return [Subject(f"resident:{r}", r, h, o) for r, (h, o) in self.residents.items()]

    def observations(self, stored: StoredBatch) -> list[ObservationInput]:
        self.refresh()
        out = []
        for item in stored.observations:
            resident = item.resident_id
            home, org = self.residents.get(resident, (None, None)) if resident else (None, None)
            room = self.rooms.get(item.device_id)
            scale = self.spo2_scales.get(resident, 1) if resident else 1
            out.append(
                ObservationInput(item.fields, resident, home, org, room, item.effective, scale)
            )
        return out

    def gateway(self, publisher: str, status: GatewayStatus) -> GatewayInput:
        self.refresh()
        home, org = self.publishers.get(publisher, (None, None))
        return GatewayInput(status, home, org, changes_only=True)


def _mqtt_target(hub: Hub) -> MqttTarget | None:
    if not getattr(hub, "_use_mqtt", True):
        return None
    mqtt = hub.settings.mqtt
    password = mqtt.password.get_secret_value() if mqtt.password else None
    tls = mqtt.tls
    return MqttTarget(
        mqtt.host,
        mqtt.port,
        mqtt.alerts_username,  # a login of its own: the broker binds client ids to logins
        password,
        client_id=f"{mqtt.client_id}-alerts"[:64],
        tls=mqtt.uses_tls,
        ca_file=tls.ca_file if tls else None,
        cert_file=tls.cert_file if tls else None,
        key_file=tls.key_file if tls else None,
    )


LAG_WARNING = timedelta(seconds=1)


def _note_lag(batch: StoredBatch, service: AlertService) -> None:
    """Log when observations reach the alert engine late (MQTT arrival to listener)."""
    if not batch.observations:
        return
    lag = service.engine.clock.now() - min(item.received for item in batch.observations)
    if lag > LAG_WARNING:
        log.warning(
            "alert input lags: %d observations arrived %.2f s before they reached the rules",
            len(batch.observations),
            lag.total_seconds(),
        )


def _listener(
    service: AlertService, directory: Directory, health: StoreHealth
) -> Callable[[HubEvent], object]:
    from hub.registry.gateways import GatewayChange
    from hub.service import StoredBatch

    async def on_event(event: HubEvent) -> None:
        if isinstance(event, StoredBatch):
            _note_lag(event, service)
            await _evaluate(health, lambda: service.observe(directory.observations(event)))
        elif isinstance(event, GatewayChange):
            status = event.status
            if status is None or status.online != event.online:
                kind = StatusKind.HEARTBEAT if event.online else StatusKind.DEATH
                status = GatewayStatus(
                    publisher=event.publisher, kind=kind, online=event.online, time=event.time
                )
            await _evaluate(
                health, lambda: service.gateway(directory.gateway(event.publisher, status))
            )

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


def build_alerts(hub: Hub) -> AlertService:
    """Build the alert service of ``hub`` and attach its listener and ``hub.auth``.

    Raises :class:`RulesConfigError` (a ``HubError``) for a wrong rules file and
    :class:`NoRulesError` for none (see :func:`load_enabled_rules`). Start the
    service with ``await service.__aenter__()``.
    """
    settings: AlertSettings = getattr(hub.settings, "alerts", AlertSettings())
    config = load_enabled_rules(settings)
    clock = FunctionClock(hub.clock)
    mqtt = _mqtt_target(hub)
    engine = AlertEngine(config, AlertStore(hub.conn), clock, channels=settings.channels(mqtt))
    directory = Directory(hub.conn)
    engine.track(directory.subjects())
    service = AlertService(engine, settings, mqtt, health=hub.health)
    hub.add_listener(_listener(service, directory, hub.health))  # type: ignore[arg-type]
    hub.auth = Authenticator(
        UserStore(hub.conn, clock),
        LoginThrottle(clock),
        session_ttl=timedelta(hours=settings.session_hours),
    )
    return service
