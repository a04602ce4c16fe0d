"""The system-status model wired into the running hub (:class:`hub.service.Hub`).

:class:`StatusMonitor` gathers a :class:`~hub.status.core.Snapshot` from the hub's parts —
the MQTT connection (``connected``, messages waiting for their commit and the oldest one's
age), the store (:attr:`hub.service.Hub.health` and a periodic write probe, so that an idle
hub notices a database that takes no write), the alert service (running, its timer, rules,
notification outbox), the registry (organisations, residents, gateways) and the gateway
table — and keeps a :class:`~hub.status.core.StatusModel` up to date:

* the hub's ``status-monitor`` task updates it every ``[status] interval_s`` and logs one
  line when a reason appears (``status: cannot vouch for calm: ...``) and one when it ends;
* the board, its banner poll and ``/readyz`` update it on every request, so they never show
  an older state than the moment of the request.

Readings per organisation are counted from the hub's post-commit events (the resident's
organisation via the registry), from the hub's start on.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from foundation.clock import NowClock
from hub.alerts.clock import Clock
from hub.db import migrate, to_micros, transaction
from hub.errors import StoreError
from hub.events import HubEvent, StoredBatch
from hub.status.core import Assessment, BrokerState, GatewaySeen, OrgSeen, Snapshot, StatusModel
from hub.status.settings import StatusSettings

if TYPE_CHECKING:
    from hub.alerts.service import AlertService
    from hub.service import Hub

__all__ = ["StatusMonitor"]

log = logging.getLogger(__name__)

MIGRATIONS = [
    "CREATE TABLE status_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_us INTEGER NOT NULL)",
]
_ORGS_SQL = (
    "SELECT o.id, o.name, (SELECT COUNT(*) FROM resident r JOIN home h ON h.id = r.home_id"
    " JOIN team t ON t.id = h.team_id WHERE t.organisation_id = o.id)"
    " FROM organisation o ORDER BY o.id"
)
_GATEWAYS_SQL = (
    "SELECT t.organisation_id, p.id, g.online FROM publisher p JOIN home h ON h.id = p.home_id"
    " JOIN team t ON t.id = h.team_id LEFT JOIN gateway_status g ON g.publisher = p.id"
    " WHERE p.kind = 'gateway' ORDER BY p.id"
)
_OUTBOX_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(next_attempt_us < ?), 0), COALESCE(SUM(attempts > 0), 0)"
    " FROM alert_outbox WHERE delivered_us IS NULL AND failed = 0"
)
_GAVE_UP_SQL = (
    "SELECT COUNT(*) FROM alert_outbox o JOIN alert a ON a.id = o.alert_id"
    " WHERE o.failed = 1 AND a.is_open = 1"
)


class StatusMonitor:
    """The hub's status: ``update()`` for a fresh assessment, ``run()`` as the hub's task."""

    def __init__(self, hub: Hub, clock: Clock | None = None) -> None:
        self._hub = hub
        self._clock = clock or NowClock(hub.clock)
        self.settings: StatusSettings = hub.settings.status
        self.model = StatusModel(self.settings)
        self.started = self._clock.now()
        self.probe_fault: str | None = None
        self._places = hub.read_model
        self._last_data: dict[str, datetime] = {}
        migrate(hub.conn, "status", MIGRATIONS)
        self.remove_listener = hub.add_listener(self._on_event)

    # -- inputs ----------------------------------------------------------------------------

    async def _on_event(self, event: HubEvent) -> None:
        if not isinstance(event, StoredBatch):
            return
        try:
            self._places.refresh()
        except sqlite3.Error:
            return  # the next batch tries again; the store fault shows meanwhile
        residents = self._places.residents
        for item in event.observations:
            place = residents.get(item.resident_id) if item.resident_id else None
            if place is not None and place[1] is not None:
                self._last_data[place[1]] = event.committed

    def _broker(self) -> BrokerState:
        if not self._hub.uses_mqtt:
            return "unused"
        mqtt = self._hub.mqtt
        return "connected" if mqtt is not None and mqtt.connected else "down"

    def _organisations(self, conn: sqlite3.Connection) -> tuple[OrgSeen, ...]:
        gateways: dict[str, list[GatewaySeen]] = {}
        for org, publisher, online in conn.execute(_GATEWAYS_SQL):
            seen = None if online is None else bool(online)
            gateways.setdefault(str(org), []).append(GatewaySeen(str(publisher), seen))
        return tuple(
            OrgSeen(
                str(oid),
                str(name),
                int(count),
                tuple(gateways.get(str(oid), ())),
                self._last_data.get(str(oid)),
            )
            for oid, name, count in conn.execute(_ORGS_SQL)
        )

    def _outbox(self, conn: sqlite3.Connection, now: datetime) -> tuple[int, int, int]:
        overdue_before = now - timedelta(seconds=self.settings.outbox_overdue_s)
        pending, overdue, retrying = conn.execute(
            _OUTBOX_SQL, (to_micros(overdue_before),)
        ).fetchone()
        gave_up = int(conn.execute(_GAVE_UP_SQL).fetchone()[0])
        return int(pending), int(overdue), int(retrying) + gave_up

    def snapshot(self, alerts: AlertService | None = None) -> Snapshot:
        """The hub's parts now; ``alerts`` overrides the hub's own alert service."""
        hub, now = self._hub, self._clock.now()
        service = alerts if alerts is not None else hub.alerts
        mqtt = hub.mqtt
        waiting = mqtt.oldest_waiting if mqtt is not None else None
        fault = hub.health.fault
        store_fault = fault.detail if fault is not None else self.probe_fault
        orgs: tuple[OrgSeen, ...] = ()
        outbox = (0, 0, 0)
        try:
            orgs = self._organisations(hub.conn)
            if service is not None:
                outbox = self._outbox(hub.conn, now)
        except sqlite3.Error as exc:
            store_fault = store_fault or f"status query failed: {exc}"
        rules = sum(1 for rule in service.engine.config.rules if rule.enabled) if service else 0
        return Snapshot(
            now=now,
            started=self.started,
            broker=self._broker(),
            store_fault=store_fault,
            engine_running=bool(service is not None and service.running),
            rules=rules,
            last_tick=service.last_tick if service is not None else None,
            oldest_waiting=waiting,
            backlog=mqtt.backlog if mqtt is not None else 0,
            outbox_pending=outbox[0],
            outbox_overdue=outbox[1],
            outbox_failing=outbox[2],
            organisations=orgs,
            gateway_timeout=timedelta(seconds=hub.settings.ingest.gateway_timeout_s),
        )

    def update(self, alerts: AlertService | None = None) -> Assessment:
        """A fresh assessment (and the model's memory of since when each reason holds)."""
        before = self.model.current
        now = self.model.update(self.snapshot(alerts))
        self._log_changes(before, now)
        return now

    def _log_changes(self, before: Assessment | None, now: Assessment) -> None:
        old = {r.key: r for r in before.reasons} if before is not None else {}
        new = {r.key: r for r in now.reasons}
        for key, reason in new.items():
            if key not in old:
                log.warning("status: cannot vouch for calm: %s", reason.describe())
        for key, reason in old.items():
            if key not in new:
                held = (now.at - reason.since).total_seconds() if reason.since else 0.0
                log.warning("status: over after %.1f s: %s", held, reason.describe())

    # -- the store probe and the task ------------------------------------------------------

    def probe(self) -> None:
        """One small write in its own transaction: does the database take a write now?"""
        conn = self._hub.conn
        try:
            with transaction(conn, operation="status probe"):
                conn.execute(
                    "INSERT INTO status_probe (id, at_us) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us",
                    (to_micros(self._clock.now()),),
                )
        except StoreError as exc:
            self.probe_fault = exc.detail[:500]
        else:
            self.probe_fault = None

    async def run(self) -> None:
        """Update every ``interval_s``; probe the store every ``probe_interval_s`` (every
        ``interval_s`` while a probe fails, so that the end of a fault shows soon)."""
        settings = self.settings
        next_probe = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self.probe_fault is not None or loop.time() >= next_probe:
                    self.probe()
                    next_probe = loop.time() + settings.probe_interval_s
                self.update()
            except Exception:  # the status must never stop the hub
                log.exception("status: the status check failed; trying again")
            await asyncio.sleep(settings.interval_s)
