"""The system-status model's pure core: can the hub vouch for calm, and if not, why not.

:func:`assess` takes a :class:`Snapshot` (what the hub's parts look like at one moment,
gathered by :mod:`hub.status.monitor`) and the ``[status]`` thresholds and returns the
:class:`Reason` list; :class:`StatusModel` remembers since when each reason holds. No I/O
and no clock here: the time is the snapshot's ``now``.

Reasons come in three scopes:

* hub-wide (``organisation`` None): the broker connection, the store, the alert engine and
  its rules, ingest lag and backlog, the notification outbox. ``blocks_ready`` marks those
  that make ``/readyz`` answer 503 (broker down, store not writable, engine stopped);
* per organisation: gateways offline (or never heard from), no reading stored for the
  organisation's residents for ``no_data_minutes`` (counted from the hub's start at the
  earliest, so a restart is not reported as silence);
* per viewer (:meth:`Assessment.for_viewer`): a user in no organisation, in one that is not
  in the registry (a misspelling), or whose organisations have no residents.

An empty list for a viewer is the only case in which the board may say that all is calm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from hub.status.settings import StatusSettings

__all__ = [
    "BLOCKS_READY",
    "Assessment",
    "BrokerState",
    "GatewaySeen",
    "OrgSeen",
    "Reason",
    "Snapshot",
    "StatusModel",
    "assess",
]

BrokerState = Literal["connected", "down", "unused"]
Param = str | int | float
BLOCKS_READY = frozenset(
    {"broker_down", "store_fault", "engine_stopped", "engine_stalled", "no_alert_leader"}
)
"""Reasons that make ``/readyz`` answer 503."""
NAMES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Reason:
    """One thing the hub cannot vouch for; ``code`` names its text (``status.<code>``)."""

    code: str
    params: tuple[tuple[str, Param], ...] = ()
    organisation: str | None = None
    since: datetime | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.code, self.organisation)

    @property
    def blocks_ready(self) -> bool:
        return self.code in BLOCKS_READY

    @property
    def values(self) -> dict[str, Param]:
        return dict(self.params)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "organisation": self.organisation,
            "since": self.since.isoformat() if self.since else None,
            **self.values,
        }

    def describe(self) -> str:
        """One line for the log: ``code (org): name=value, ...``."""
        where = f" ({self.organisation})" if self.organisation else ""
        values = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.code}{where}" + (f": {values}" if values else "")


@dataclass(frozen=True, slots=True)
class GatewaySeen:
    publisher: str
    online: bool | None
    """None: registered, never heard from."""


@dataclass(frozen=True, slots=True)
class OrgSeen:
    id: str
    name: str
    residents: int
    gateways: tuple[GatewaySeen, ...] = ()
    last_data: datetime | None = None
    """The last reading stored for one of its residents (this process's lifetime)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The hub's parts at ``now``."""

    now: datetime
    started: datetime
    broker: BrokerState
    store_fault: str | None
    engine_running: bool
    rules: int
    last_tick: datetime | None = None
    oldest_waiting: datetime | None = None
    backlog: int = 0
    outbox_pending: int = 0
    outbox_overdue: int = 0
    outbox_failing: int = 0
    organisations: tuple[OrgSeen, ...] = ()
    gateway_timeout: timedelta = timedelta(minutes=3)
    """A gateway never heard from counts as offline this long after the hub's start."""
    leadership: bool = False
    """Hub nodes share the evaluation of alert rules (:mod:`hub.leadership`)."""
    alert_leader: str | None = None
    """With ``leadership``: the node that evaluates now (None: none)."""


@dataclass(frozen=True, slots=True)
class Assessment:
    """The reasons at one moment, and the organisations known then."""

    at: datetime
    reasons: tuple[Reason, ...]
    organisations: Mapping[str, OrgSeen] = field(default_factory=dict)
    figures: Mapping[str, Param | None] = field(default_factory=dict)

    @property
    def hub_wide(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.organisation is None)

    @property
    def ready(self) -> bool:
        return not any(r.blocks_ready for r in self.reasons)

    def for_viewer(self, organisations: frozenset[str] | None) -> tuple[Reason, ...]:
        """What a user seeing ``organisations`` (None: all) must be told; empty: calm."""
        out = list(self.hub_wide)
        if organisations is None:
            known = list(self.organisations.values())
        else:
            known = [
                self.organisations[o] for o in sorted(organisations) if o in self.organisations
            ]
            if not organisations:
                out.append(Reason("no_organisation"))
            unknown = sorted(o for o in organisations if o not in self.organisations)
            out.extend(Reason("org_unknown", (("org", o),), o) for o in unknown)
        visible = {org.id for org in known}
        out.extend(r for r in self.reasons if r.organisation in visible)
        if (known or organisations is None) and sum(org.residents for org in known) == 0:
            names = ", ".join(org.name for org in known)
            out.append(
                Reason("no_residents", (("org", names),)) if names else Reason("no_residents_any")
            )
        return tuple(out)


def _minutes(span: timedelta) -> int:
    return max(1, int(span.total_seconds() // 60))


def _hub_reasons(snap: Snapshot, limits: StatusSettings) -> Iterable[Reason]:
    if snap.broker == "down":
        yield Reason("broker_down")
    if snap.store_fault is not None:
        yield Reason("store_fault", (("detail", snap.store_fault),))
    if snap.leadership and snap.alert_leader is None:
        yield Reason("no_alert_leader")
    if not snap.engine_running:
        yield Reason("engine_stopped")
    elif snap.last_tick is not None:
        quiet = (snap.now - snap.last_tick).total_seconds()
        if quiet > limits.engine_stall_s:
            yield Reason("engine_stalled", (("seconds", int(quiet)),))
    if snap.rules == 0:
        yield Reason("no_rules")
    if snap.oldest_waiting is not None:
        lag = (snap.now - snap.oldest_waiting).total_seconds()
        if lag > limits.ingest_lag_s:
            yield Reason("ingest_lag", (("seconds", int(lag)),))
    if snap.backlog > limits.backlog_messages:
        yield Reason("backlog", (("count", snap.backlog),))
    if snap.outbox_overdue:
        yield Reason("outbox_overdue", (("count", snap.outbox_overdue),))
    if snap.outbox_failing:
        yield Reason("outbox_failing", (("count", snap.outbox_failing),))


def _org_reasons(org: OrgSeen, snap: Snapshot, limits: StatusSettings) -> Iterable[Reason]:
    waited = snap.now - snap.started >= snap.gateway_timeout
    offline = [
        g.publisher for g in org.gateways if g.online is False or (g.online is None and waited)
    ]
    if offline:
        names = ", ".join(offline[:NAMES_SHOWN])
        if len(offline) > NAMES_SHOWN:
            names += f" (+{len(offline) - NAMES_SHOWN})"
        listed = (("org", org.name), ("count", len(offline)), ("names", names))
        yield Reason("gateways_offline", listed, org.id)
    if org.residents:
        since = max(snap.started, org.last_data) if org.last_data else snap.started
        silent = snap.now - since
        if silent >= timedelta(minutes=limits.no_data_minutes):
            yield Reason("no_data", (("org", org.name), ("minutes", _minutes(silent))), org.id)


def assess(snap: Snapshot, limits: StatusSettings) -> Assessment:
    """Every reason the hub cannot vouch for calm at ``snap.now`` (no ``since`` yet)."""
    reasons = list(_hub_reasons(snap, limits))
    for org in snap.organisations:
        reasons.extend(_org_reasons(org, snap, limits))
    figures: dict[str, Param | None] = {
        "broker": snap.broker,
        "rules": snap.rules,
        "backlog": snap.backlog,
        "outbox_pending": snap.outbox_pending,
        "outbox_failing": snap.outbox_failing,
        "alert_leader": snap.alert_leader,
    }
    orgs = {org.id: org for org in snap.organisations}
    return Assessment(snap.now, tuple(reasons), orgs, figures)


class StatusModel:
    """:func:`assess` plus memory: since when each reason has held (first seen)."""

    def __init__(self, limits: StatusSettings) -> None:
        self.limits = limits
        self._since: dict[tuple[str, str | None], datetime] = {}
        self.current: Assessment | None = None

    def update(self, snap: Snapshot) -> Assessment:
        fresh = assess(snap, self.limits)
        since = {r.key: self._since.get(r.key, snap.now) for r in fresh.reasons}
        self._since = since
        reasons = tuple(replace(r, since=since[r.key]) for r in fresh.reasons)
        self.current = replace(fresh, reasons=reasons)
        return self.current
