"""Prometheus metrics of one hub at ``GET /metrics`` (the Prometheus text format).

Each :class:`~hub.service.Hub` has its own :class:`CollectorRegistry` (``hub.metrics``), so
several hubs in one process do not clash. Almost everything is read **at scrape time** from
what the hub keeps anyway — the ledger's counters and dead letters (hub/store/ledger.py),
the alert tables (hub/alerts/figures.py), the gateway status table and the publishers
(hub/registry), the MQTT queue — so ingest pays nothing for metrics, except one histogram
observation per group commit (not per message). The collector sees the hub through
:class:`MetricsSource`: its services (hub/compose.py) and its MQTT transport.

Access: like the API, a bearer token (``Authorization: Bearer <API token>``) or a session
of a **system administrator** (an administrator without organisation): the figures span
every organisation. Prometheus reads the token from a file (``authorization:
credentials_file``); docs/hub.md shows the scrape configuration.

Label cardinality is bounded: ``reason`` is one of :data:`hub.store.ledger.REASONS`,
``publisher`` a registered publisher or ``unregistered``, ``state`` and ``severity`` the
alert enums, ``channel`` the configured notification channels.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.alerts.figures import escalations_after, open_alert_counts, outbox_by_channel
from hub.auth import Role, User
from hub.auth.web import require_role
from hub.db import Connection
from hub.registry.figures import publisher_ids
from hub.status.monitor import Transport
from hub.store.ledger import REASONS, REJECTION_COUNTER
from schemas.models import AlertState, Severity

if TYPE_CHECKING:
    from hub.compose import Services
    from hub.service import Hub

__all__ = ["HubMetrics", "MetricsSource", "router"]

COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("accepted", "stored", "duplicate", "rejected")
MESSAGE_KINDS = ("obs", "status", "other")


class MetricsSource(Protocol):
    """What the metrics read at scrape time (the hub: its services once open, its transport)."""

    @property
    def services(self) -> Services: ...

    @property
    def mqtt(self) -> Transport | None: ...


class HubMetrics:
    """The registry of one hub: the commit histogram and a collector of current state."""

    def __init__(self, source: MetricsSource) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.commit_seconds = Histogram(
            "hjem_ingest_commit_seconds",
            "Time to judge and durably commit one group of messages (retries included)",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(source))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


class _StateCollector(Collector):
    """Reads the hub's current state at each scrape."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source
        self._escalations = 0
        self._audit_seen = 0
        """The audit log is append-only: each scrape counts only rows after this one."""

    def collect(self) -> Iterator[Metric]:
        services = self._source.services
        counters = services.ledger.counters()
        yield from self._ingest(counters)
        yield self._rejections(services.conn, counters)
        yield from self._runtime(services)
        yield from self._gateways(services)
        with contextlib.suppress(sqlite3.OperationalError):  # no alert tables (no alerts)
            yield from self._alerts(services.conn)

    def _ingest(self, counters: dict[str, int]) -> Iterator[Metric]:
        obs = _counter("hjem_ingest_observations", "Observations by outcome", ["outcome"])
        for outcome in OUTCOMES:
            obs.add_metric([outcome], counters.get(f"observations_{outcome}", 0))
        yield obs
        messages = _counter(
            "hjem_ingest_messages", "Messages by kind and outcome", ["kind", "outcome"]
        )
        for kind in MESSAGE_KINDS:
            for outcome in ("received", "rejected"):
                messages.add_metric([kind, outcome], counters.get(f"{kind}_messages_{outcome}", 0))
        messages.add_metric(
            ["obs", "partly_rejected"], counters.get("obs_messages_partly_rejected", 0)
        )
        yield messages

    def _rejections(self, conn: Connection, counters: dict[str, int]) -> Metric:
        known = publisher_ids(conn)
        totals: dict[tuple[str, str], int] = {}
        for name, value in counters.items():
            if not name.startswith(REJECTION_COUNTER):
                continue
            reason, _, publisher = name.removeprefix(REJECTION_COUNTER).partition("|")
            key = (
                reason if reason in REASONS else "other",
                publisher if publisher in known else "unregistered",
            )
            totals[key] = totals.get(key, 0) + value
        family = _counter(
            "hjem_ingest_rejections",
            "Refused or partly refused messages by reason and publisher",
            ["reason", "publisher"],
        )
        for (reason, publisher), value in sorted(totals.items()):
            family.add_metric([reason, publisher], value)
        return family

    def _runtime(self, services: Services) -> Iterator[Metric]:
        mqtt = self._source.mqtt
        yield GaugeMetricFamily(
            "hjem_ingest_backlog_messages",
            "MQTT messages received and not yet committed",
            value=mqtt.backlog if mqtt is not None else 0,
        )
        yield GaugeMetricFamily(
            "hjem_mqtt_connected",
            "1 when connected to the broker",
            value=int(bool(mqtt and mqtt.connected)),
        )
        yield GaugeMetricFamily(
            "hjem_store_fault",
            "1 while a store fault pauses ingest",
            value=int(services.health.fault is not None),
        )
        alerts = services.alerts.service if services.alerts is not None else None
        yield GaugeMetricFamily(
            "hjem_sse_subscribers",
            "Open live alert streams (dashboards)",
            value=alerts.broadcaster.subscribers if alerts is not None else 0,
        )

    def _gateways(self, services: Services) -> Iterator[Metric]:
        online, offline = services.gateways.counts()
        family = GaugeMetricFamily("hjem_gateways", "Known gateways by state", labels=["state"])
        family.add_metric(["online"], online)
        family.add_metric(["offline"], offline)
        yield family

    def _alerts(self, conn: Connection) -> Iterator[Metric]:
        counts = open_alert_counts(conn)
        family = GaugeMetricFamily(
            "hjem_alerts_open", "Open alerts by state and severity", labels=["state", "severity"]
        )
        for state in AlertState:
            if state is AlertState.CLEARED_ACK:
                continue
            for severity in Severity:
                family.add_metric(
                    [state.value, severity.value], counts.get((state.value, severity.value), 0)
                )
        yield family
        last, new = escalations_after(conn, self._audit_seen)
        if last is not None:
            self._audit_seen, self._escalations = last, self._escalations + new
        yield CounterMetricFamily(
            "hjem_alert_escalations",
            "Alerts escalated to the next responder",
            value=self._escalations,
        )
        yield from self._notifications(conn)

    def _notifications(self, conn: Connection) -> Iterator[Metric]:
        failures = _counter(
            "hjem_notification_failures",
            "Failed delivery attempts of alert notifications",
            ["channel"],
        )
        outbox = GaugeMetricFamily(
            "hjem_notifications",
            "Alert notifications by channel and status",
            labels=["channel", "status"],
        )
        for row in outbox_by_channel(conn):
            failures.add_metric([row.channel], row.failed_attempts)
            outbox.add_metric([row.channel, "pending"], row.pending)
            outbox.add_metric([row.channel, "given_up"], row.given_up)
        yield failures
        yield outbox


router = APIRouter()


async def _system_admin(
    user: Annotated[User, Depends(require_role(Role.ADMIN))],
) -> User:
    if user.organisation is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "metrics span every organisation: needs a system admin"
        )
    return user


@router.get("/metrics", tags=["ops"], include_in_schema=False)
async def metrics(request: Request, _: Annotated[User, Depends(_system_admin)]) -> Response:
    """Prometheus text format; async so that it reads the hub's SQLite in the event loop."""
    hub: Hub = request.app.state.hub
    return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)
