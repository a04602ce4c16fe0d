"""Helpers for the alert tests: observations for a resident, a manual clock, an engine on a
real SQLite file or, given :class:`~tests.support.hub_db.HubDatabases`, on either engine."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from foundation.clock import ManualClock
from hub.alerts.config import RulesConfig, parse_rules
from hub.alerts.engine import AlertEngine
from hub.alerts.inputs import GatewayInput, ObservationInput
from hub.alerts.store import AlertStore
from hub.db import open_db
from schemas.builders import component, make_observation
from schemas.models import AlertEvent, DeviceInfo, GatewayStatus, Observation, Source, StatusKind
from tests.support.hub_db import HubDatabases

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Copenhagen
_seq = itertools.count()


def source(device: str = "dev-1", publisher: str = "gw-1") -> Source:
    return Source(publisher=publisher, gateway=publisher, device=DeviceInfo(id=device))


def obs(
    key: str,
    value: str | None = None,
    *,
    at: datetime,
    device: str = "dev-1",
    publisher: str = "gw-1",
    **fields: object,
) -> Observation:
    return make_observation(
        key,
        source=source(device, publisher),
        effective=at,
        instant=f"{at.isoformat()}#{next(_seq)}",
        value=value,
        **fields,
    )


def bp(systolic: str, diastolic: str, *, at: datetime, device: str = "bp-1") -> Observation:
    return make_observation(
        "blood_pressure",
        source=source(device),
        effective=at,
        components=[
            component("blood_pressure_systolic", systolic),
            component("blood_pressure_diastolic", diastolic),
        ],
    )


def item(
    observation: Observation,
    resident: str | None = "r-1",
    *,
    organisation: str | None = "org-a",
    room: str | None = None,
) -> ObservationInput:
    return ObservationInput(observation, resident, "h-1", organisation, room)


def status(publisher: str, kind: StatusKind, *, at: datetime, online: bool = True) -> GatewayInput:
    return GatewayInput(
        GatewayStatus(publisher=publisher, kind=kind, online=online, time=at),
        home="h-1",
        organisation="org-a",
    )


class Harness:
    """An engine on a real database (a SQLite file, or the test's database of the engine
    ``hub_dbs`` gives), with a manual clock and a record of events."""

    def __init__(
        self, db: Path | HubDatabases, rules: str | RulesConfig, start: datetime = T0
    ) -> None:
        self.db = db
        self.config = parse_rules(rules) if isinstance(rules, str) else rules
        self.clock = ManualClock(start)
        self.events: list[AlertEvent] = []
        self.open()

    def open(self) -> None:
        self.conn = open_db(self.db) if isinstance(self.db, Path) else self.db.open()
        self.engine = AlertEngine(
            self.config, AlertStore(self.conn), self.clock, channels=("mqtt", "webhook")
        )
        self.engine.add_listener(lambda e, _org: self.events.append(e))

    def restart(self) -> None:
        """Close the database and build a new engine on the same file (a hub restart)."""
        self.conn.close()
        self.open()

    def feed(self, *observations: Observation, **kw: object) -> list[AlertEvent]:
        return self.engine.observe([item(o, **kw) for o in observations])  # type: ignore[arg-type]

    def at(self, when: datetime) -> datetime:
        return self.clock.set(when)

    def advance(self, seconds: float) -> list[AlertEvent]:
        self.clock.advance(seconds)
        return self.engine.tick()

    def states(self) -> list[tuple[str, str]]:
        return [(e.rule, e.state.value) for e in self.events]
