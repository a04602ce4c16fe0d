"""The durable alert engine: rule state and the feed position committed with the alert
changes, so a restarted hub (or a node taking over) neither drops nor repeats an alert.

A "crash" here is a second engine built on the same database while the first is abandoned
mid-way (nothing closed, nothing flushed): it sees only what was committed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.clock import ManualClock
from hub.alerts.config import parse_rules
from hub.alerts.durable import OBSERVATIONS, DurableEngine, EngineState
from hub.alerts.errors import StorageError
from hub.alerts.feed import AlertFeed
from hub.alerts.inputs import ObservationInput, Subject
from hub.alerts.store import AlertStore
from hub.db import Connection, open_db
from hub.store.base import StoredObservation
from hub.store.sqlite import SqliteStore
from schemas.models import AlertEvent, AlertState, StatusKind
from tests.hub.alerts.test_alerts_lifecycle import RULES
from tests.hub.alerts.test_alerts_rules import KITCHEN
from tests.support.alerts import T0, bp, item, obs, status
from tests.support.hub_db import HubDatabases


class Node:
    """One hub's durable engine on the test's database (its own connection)."""

    def __init__(self, conn: Connection, rules: str, clock: ManualClock) -> None:
        self.conn = conn
        self.clock = clock
        self.engine = DurableEngine(
            parse_rules(rules), AlertStore(conn), clock, EngineState(conn), channels=("mqtt",)
        )
        self.events: list[AlertEvent] = []
        self.engine.add_listener(lambda e, _org: self.events.append(e))

    def actions(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT a.rule, u.action FROM alert_audit u JOIN alert a ON a.id = u.alert_id"
            " ORDER BY u.seq"
        ).fetchall()
        return [(str(r), str(a)) for r, a in rows]


def _fall(at: datetime) -> ObservationInput:
    return item(obs("fall", at=at, device="w-1", value_code="fall"))


def test_a_pending_threshold_fires_once_and_an_escalation_goes_on_after_a_crash(
    hub_dbs: HubDatabases,
) -> None:
    clock = ManualClock(T0)
    first = Node(hub_dbs.open(), RULES, clock)
    first.engine.observe([_fall(T0)])  # escalation: team:day until T0 + 180 s
    first.engine.observe([item(obs("spo2", "90", at=T0))])  # pending until T0 + 120 s
    clock.advance(60)
    assert first.engine.tick() == []
    # the hub dies here; the next one starts on the same database
    second = Node(hub_dbs.open(), RULES, clock)
    clock.advance(59)
    assert second.engine.tick() == []  # 119 s: still pending
    clock.advance(1)
    assert [(e.rule, e.state) for e in second.engine.tick()] == [
        ("spo2-low", AlertState.ACTIVE_UNACK)
    ]
    clock.advance(59)
    assert second.engine.tick() == []  # 179 s
    clock.advance(1)
    [escalated] = second.engine.tick()
    assert (escalated.rule, escalated.escalation_level) == ("fall", 1)
    third = Node(hub_dbs.open(), RULES, clock)  # another restart: nothing again
    clock.advance(30)
    assert third.engine.tick() == []
    assert second.actions() == [
        ("fall", "fire"),
        ("spo2-low", "fire"),
        ("fall", "escalate"),
    ]


def test_hysteresis_survives_a_restart(hub_dbs: HubDatabases) -> None:
    rules = RULES.replace("pending_seconds = 120", "pending_seconds = 0")
    clock = ManualClock(T0)
    first = Node(hub_dbs.open(), rules, clock)
    assert [e.state for e in first.engine.observe([item(obs("spo2", "90", at=T0))])] == [
        AlertState.ACTIVE_UNACK
    ]
    second = Node(hub_dbs.open(), rules, clock)
    assert second.engine.observe([item(obs("spo2", "93", at=T0))]) == []  # below clear_value
    [cleared] = second.engine.observe([item(obs("spo2", "95", at=T0))])
    assert cleared.state is AlertState.CLEARED_UNACK


def test_an_inactivity_window_open_when_the_hub_restarts_still_fires(
    hub_dbs: HubDatabases,
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))  # 06:00 in Copenhagen
    first = Node(hub_dbs.open(), KITCHEN, clock)
    first.engine.track([Subject("resident:r-1", "r-1", "h-1", "org-a")])
    clock.advance(2 * 3600)  # 08:00, inside the window: the hub restarts
    second = Node(hub_dbs.open(), KITCHEN, clock)
    second.engine.track([Subject("resident:r-1", "r-1", "h-1", "org-a")])
    clock.advance(2 * 3600)  # 10:00: the window ends without motion
    assert [e.rule for e in second.engine.tick()] == ["kitchen-morning"]


EVERY_KIND = """
[[rule]]
id = "t"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
pending_seconds = 60

[[rule]]
id = "b"
kind = "battery_low"
below_percent = 15
clear_percent = 25

[[rule]]
id = "n"
kind = "no_data"
max_silence_seconds = 7200

[[rule]]
id = "g"
kind = "gateway_offline"
heartbeat_timeout_seconds = 180
grace_seconds = 60

[[rule]]
id = "w"
kind = "baseline"
measure = "body_weight"
min_samples = 5
score = 3.5
clear_score = 2.5

[[rule]]
id = "news"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }]
max_age_seconds = 3600
min_parameters = 1
"""


def _snapshots(engine: DurableEngine) -> dict[str, object]:
    return {rule: json.loads(json.dumps(e.snapshot())) for rule, e in engine._evaluators.items()}


def test_every_evaluator_comes_back_as_it_was(hub_dbs: HubDatabases) -> None:
    clock = ManualClock(T0)
    first = Node(hub_dbs.open(), EVERY_KIND + KITCHEN, clock)
    first.engine.track([Subject("resident:r-1", "r-1", "h-1", "org-a")])
    first.engine.gateway(status("gw-1", StatusKind.BIRTH, at=T0))
    for day, weight in enumerate(["71.8", "72.0", "72.3", "71.9", "72.1", "90.0"]):
        first.engine.observe([item(obs("body_weight", weight, at=T0 + timedelta(days=day)))])
    first.engine.observe(
        [
            item(obs("spo2", "90", at=T0)),
            item(obs("battery", "12", at=T0, device="th-7")),
            item(bp("185", "90", at=T0)),
            item(obs("motion", at=T0, device="m-1", value_boolean=True)),
        ]
    )
    clock.advance(30)
    first.engine.tick()
    before = _snapshots(first.engine)
    assert all(before[rule] for rule in ("t", "b", "n", "g", "w", "news", "kitchen-morning"))
    second = Node(hub_dbs.open(), EVERY_KIND + KITCHEN, clock)
    assert _snapshots(second.engine) == before


def test_a_unit_that_cannot_commit_changes_nothing_and_is_evaluated_again(
    hub_dbs: HubDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(T0)
    node = Node(hub_dbs.open(), RULES, clock)
    state = node.engine.state

    def broken(*_: object, **__: object) -> None:
        raise StorageError("alert engine state: move feed position: disk I/O error")

    monkeypatch.setattr(state, "move", broken)
    with pytest.raises(StorageError, match="disk I/O error"):
        node.engine.observe([_fall(T0), item(obs("spo2", "90", at=T0))], position=7)
    assert node.events == []  # the live stream heard of nothing
    assert node.actions() == []
    assert state.position(OBSERVATIONS) is None
    monkeypatch.undo()
    clock.advance(120)
    assert node.engine.tick() == []  # the failed unit's pending threshold was undone too
    events = node.engine.observe([_fall(T0), item(obs("spo2", "90", at=T0))], position=7)
    assert [e.rule for e in events] == ["fall"] == [e.rule for e in node.events]
    assert state.position(OBSERVATIONS) == 7


# -- the store's feed (SQLite store: numbered observations) --------------------------------


def _stored(*observations: ObservationInput) -> list[StoredObservation]:
    return [
        StoredObservation(i.observation, "gw-1", i.resident, i.observation.effective)
        for i in observations
    ]


def _inputs(stored: object) -> list[ObservationInput]:
    return [
        ObservationInput(s.reading, s.resident_id, "h-1", "org-a")
        for s in stored  # type: ignore[attr-defined]
    ]


class FedNode(Node):
    def __init__(self, path: Path, rules: str, clock: ManualClock) -> None:
        conn = open_db(path)
        super().__init__(conn, rules, clock)
        self.feed = AlertFeed(self.engine, SqliteStore(conn), _inputs, page=2)
        self.engine.feed = self.feed


def test_two_nodes_on_one_feed_evaluate_each_observation_once(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite3"
    clock = ManualClock(T0)
    ingest = SqliteStore(open_db(db))  # the ingesting process (any node)
    rules = RULES.replace("pending_seconds = 120", "pending_seconds = 0")
    leader, standby = FedNode(db, rules, clock), FedNode(db, rules, clock)
    assert leader.feed.position() == 0  # a first start: from the newest (none yet)
    ingest.write(_stored(_fall(T0), item(obs("spo2", "95", at=T0)), item(obs("spo2", "90", at=T0))))
    assert leader.feed.drain() == 3
    assert [e.rule for e in leader.events] == ["fall", "spo2-low"]
    assert standby.feed.drain() == 0  # the position is shared: nothing twice
    with pytest.raises(StorageError, match="no longer at 0"):  # a node that thought it led
        standby.engine.observe([item(obs("spo2", "95", at=T0))], position=3, after=0)
    assert standby.events == []
    ingest.write(_stored(item(obs("spo2", "96", at=T0)), item(obs("spo2", "89", at=T0))))
    # the leader dies before it evaluates them; the standby takes over
    standby.engine.resume()
    assert standby.feed.drain() == 2
    assert [(e.rule, e.state) for e in standby.events] == [
        ("spo2-low", AlertState.CLEARED_UNACK),
        ("spo2-low", AlertState.ACTIVE_UNACK),
    ]
    assert leader.actions() == [
        ("fall", "fire"),
        ("spo2-low", "fire"),
        ("spo2-low", "clear"),
        ("spo2-low", "refire"),
    ]
    assert leader.feed.evaluated + standby.feed.evaluated == 5


def test_readings_stored_before_any_node_leads_are_evaluated(tmp_path: Path) -> None:
    """The first position is fixed when a hub opens (before ingest), not when a node first
    leads: a fall stored in the second before leadership is still evaluated."""
    db = tmp_path / "hub.sqlite3"
    clock = ManualClock(T0)
    ingest = SqliteStore(open_db(db))
    ingest.write(_stored(item(obs("spo2", "97", at=T0))))  # before this hub had alerts
    node = FedNode(db, RULES.replace("pending_seconds = 120", "pending_seconds = 0"), clock)
    node.feed.start()  # the hub opens: the newest stored observation is the start
    other = FedNode(db, RULES, clock)
    other.feed.start()  # a second node opening at once keeps the first one's position
    assert other.feed.position() == node.feed.position() == 1
    ingest.write(_stored(_fall(T0)))  # stored before any node leads
    assert node.feed.drain() == 1  # the first leadership evaluates it
    assert [e.rule for e in node.events] == ["fall"]
