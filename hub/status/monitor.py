"""The system-status model wired into the running hub (:class:`hub.service.Hub`).

:class:`StatusMonitor` gathers a :class:`~hub.status.core.Snapshot` from the hub's parts (its
services from hub/compose.py and its MQTT :class:`Transport`) —
the MQTT connection (``connected``, messages waiting for their commit and the oldest one's
age), the store (:attr:`hub.compose.Services.health` and a periodic write probe, so that an
idle hub notices a database that takes no write), the alert service (running, its timer,
rules, notification outbox: hub/alerts/figures.py), the registry (organisations, residents,
gateways: hub/registry/figures.py) — and keeps a :class:`~hub.status.core.StatusModel` up to date:

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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from foundation.clock import Clock
from hub.alerts.figures import outbox_summary
from hub.db import Connection, migrate, to_micros, transaction
from hub.errors import StoreError
from hub.events import HubEvent, Listener, StoredBatch
from hub.registry.figures import gateways_by_organisation, organisations_with_residents
from hub.status.core import Assessment, BrokerState, GatewaySeen, OrgSeen, Snapshot, StatusModel
from hub.status.settings import StatusSettings

if TYPE_CHECKING:
    from hub.alerts.service import AlertService
    from hub.compose import Services

__all__ = ["StatusMonitor", "Transport"]

log = logging.getLogger(__name__)

MIGRATIONS = [
    "CREATE TABLE status_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_us INTEGER NOT NULL)",
]


class Transport(Protocol):
    """The MQTT connection as the status (and the metrics) see it."""

    @property
    def connected(self) -> bool: ...

    @property
    def backlog(self) -> int: ...

    @property
    def oldest_waiting(self) -> datetime | None: ...


class StatusMonitor:
    """The hub's status: ``update()`` for a fresh assessment, ``run()`` as the hub's task."""

    def __init__(
        self,
        services: Services,
        *,
        transport: Callable[[], Transport | None] | None,
        add_listener: Callable[[Listener], Callable[[], None]],
    ) -> None:
        """``transport``: the hub's MQTT connection once it has one (None: MQTT unused);
        ``add_listener``: registers for the hub's post-commit events."""
        self._services = services
        self._transport = transport
        self._clock: Clock = services.clock
        self.settings: StatusSettings = services.settings.status
        self.model = StatusModel(self.settings)
        self.started = self._clock()
        self.probe_fault: str | None = None
        self._places = services.read_model
        self._last_data: dict[str, datetime] = {}
        migrate(services.conn, "status", MIGRATIONS)
        self.remove_listener = add_listener(self._on_event)

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

    def _mqtt(self) -> Transport | None:
        return self._transport() if self._transport is not None else None

    def _broker(self) -> BrokerState:
        if self._transport is None:
            return "unused"
        mqtt = self._mqtt()
        return "connected" if mqtt is not None and mqtt.connected else "down"

    def _organisations(self, conn: Connection) -> tuple[OrgSeen, ...]:
        gateways: dict[str, list[GatewaySeen]] = {}
        for gateway in gateways_by_organisation(conn):
            seen = GatewaySeen(gateway.publisher, gateway.online)
            gateways.setdefault(gateway.organisation, []).append(seen)
        return tuple(
            OrgSeen(
                org.id,
                org.name,
                org.residents,
                tuple(gateways.get(org.id, ())),
                self._last_data.get(org.id),
            )
            for org in organisations_with_residents(conn)
        )

    def _outbox(self, conn: Connection, now: datetime) -> tuple[int, int, int]:
        overdue_before = now - timedelta(seconds=self.settings.outbox_overdue_s)
        summary = outbox_summary(conn, overdue_before)
        return summary.pending, summary.overdue, summary.failing

    def snapshot(self, alerts: AlertService | None = None) -> Snapshot:
        """The hub's parts now; ``alerts`` overrides the hub's own alert service."""
        services, now = self._services, self._clock()
        own = services.alerts.service if services.alerts is not None else None
        service = alerts if alerts is not None else own
        mqtt = self._mqtt()
        waiting = mqtt.oldest_waiting if mqtt is not None else None
        fault = services.health.fault
        store_fault = fault.detail if fault is not None else self.probe_fault
        orgs: tuple[OrgSeen, ...] = ()
        outbox = (0, 0, 0)
        try:
            orgs = self._organisations(services.conn)
            if service is not None:
                outbox = self._outbox(services.conn, now)
        except sqlite3.Error as exc:
            store_fault = store_fault or f"status query failed: {exc}"
        rules = sum(1 for rule in service.engine.config.rules if rule.enabled) if service else 0
        leadership = service.leadership if service is not None else None
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
            gateway_timeout=timedelta(seconds=services.settings.ingest.gateway_timeout_s),
            leadership=leadership is not None,
            alert_leader=leadership.current if leadership is not None else None,
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
        conn = self._services.conn
        try:
            with transaction(conn, operation="status probe"):
                conn.execute(
                    "INSERT INTO status_probe (id, at_us) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us",
                    (to_micros(self._clock()),),
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
