"""Lifecycle: acknowledge, resolve, audit, escalation deadlines, silences, and a restart in
the middle of an escalation (a new engine on the same SQLite file)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from hub.alerts import figures, history
from hub.alerts.errors import AlertNotFoundError, InvalidTransitionError
from schemas.models import AlertState
from tests.support.alerts import T0, Harness, item, obs
from tests.support.hub_db import HubDatabases

RULES = """
[escalation.care]
repeat_seconds = 300
steps = [
  { responder = "team:day", ack_deadline_seconds = 180 },
  { responder = "team:lead", ack_deadline_seconds = 600 },
]

[[rule]]
id = "fall"
kind = "event"
measure = "fall"
escalation = "care"

[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
clear_value = 94
pending_seconds = 120
"""


def _fall(h: Harness, resident: str = "r-1") -> str:
    events = h.engine.observe(
        [item(obs("fall", at=h.clock.now(), device=f"w-{resident}", value_code="fall"), resident)]
    )
    assert len(events) == 1
    return events[0].alert_id


def test_acknowledge_then_clear_closes(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES.replace("pending_seconds = 120", "pending_seconds = 0"))
    [fired] = h.feed(obs("spo2", "90", at=T0))
    h.advance(30)
    acked = h.engine.acknowledge(fired.alert_id, "nurse.anna", "on my way")
    assert (acked.state, acked.previous_state, acked.actor) == (
        AlertState.ACTIVE_ACK,
        AlertState.ACTIVE_UNACK,
        "nurse.anna",
    )
    with pytest.raises(InvalidTransitionError, match="is ACTIVE_ACK; cannot acknowledge"):
        h.engine.acknowledge(fired.alert_id, "nurse.anna")
    [closed] = h.feed(obs("spo2", "95", at=h.clock.now()))
    assert closed.state is AlertState.CLEARED_ACK
    assert h.engine.store.get(fired.alert_id).is_open is False
    # firing again after the alert was closed: a new alert
    [again] = h.feed(obs("spo2", "90", at=h.clock.now()))
    assert again.alert_id != fired.alert_id


def test_cleared_unacknowledged_needs_acknowledgement(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES.replace("pending_seconds = 120", "pending_seconds = 0"))
    [fired] = h.feed(obs("spo2", "90", at=T0))
    [cleared] = h.feed(obs("spo2", "96", at=T0))
    assert cleared.state is AlertState.CLEARED_UNACK
    assert [r.id for r in h.engine.store.find(states=[AlertState.CLEARED_UNACK])] == [
        fired.alert_id
    ]
    done = h.engine.acknowledge(fired.alert_id, "nurse.bo")
    assert done.state is AlertState.CLEARED_ACK


def test_resolve_with_note_and_the_rule_starts_over(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    h.feed(obs("spo2", "90", at=T0))
    [fired] = h.advance(120)
    h.advance(10)
    resolved = h.engine.resolve(
        fired.alert_id, "nurse.anna", "probe on cold finger; re-measured 97"
    )
    assert (resolved.state, resolved.note) == (
        AlertState.CLEARED_ACK,
        "probe on cold finger; re-measured 97",
    )
    with pytest.raises(InvalidTransitionError):
        h.engine.resolve(fired.alert_id, "nurse.anna", "again")
    # still low: a new alert only after the pending duration again
    assert h.feed(obs("spo2", "90", at=h.clock.now())) == []
    assert h.advance(119) == []
    assert [e.state for e in h.advance(1)] == [AlertState.ACTIVE_UNACK]
    with pytest.raises(AlertNotFoundError):
        h.engine.resolve("a-missing", "x", "y")


def test_audit_is_complete_and_append_only(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    alert_id = _fall(h)
    h.advance(60)
    h.engine.acknowledge(alert_id, "nurse.anna", "calling")
    h.advance(60)
    h.engine.resolve(alert_id, "nurse.anna", "resident fine, sensor knocked off the table")
    audit = h.engine.audit(alert_id)
    assert [(a.sequence, a.action, a.actor, a.from_state, a.to_state) for a in audit] == [
        (0, "fire", "system", None, AlertState.ACTIVE_UNACK),
        (1, "acknowledge", "nurse.anna", AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK),
        (2, "resolve", "nurse.anna", AlertState.ACTIVE_ACK, AlertState.CLEARED_ACK),
    ]
    assert [a.time - T0 for a in audit] == [
        timedelta(0),
        timedelta(seconds=60),
        timedelta(seconds=120),
    ]
    assert audit[2].note == "resident fine, sensor knocked off the table"
    assert audit[0].detail["assignee"] == "team:day"
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        h.conn.execute("UPDATE alert_audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        h.conn.execute("DELETE FROM alert_audit")
    assert len(h.engine.audit(alert_id)) == 3


def test_escalation_deadlines_and_renotify_until_acknowledged(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    alert_id = _fall(h)
    row = h.engine.store.get(alert_id)
    assert (row.assignee, row.escalation_level, row.next_notify) == (
        "team:day",
        0,
        T0 + timedelta(seconds=180),
    )
    assert h.advance(179) == []
    [escalated] = h.advance(1)
    assert (escalated.escalation_level, escalated.state) == (1, AlertState.ACTIVE_UNACK)
    assert escalated.note == "not acknowledged in time; escalated to team:lead"
    assert h.advance(599) == []
    [repeat1] = h.advance(1)  # last step's deadline passed: re-notify every 300 s
    assert (repeat1.escalation_level, repeat1.note) == (
        1,
        "still not acknowledged; notifying team:lead again",
    )
    assert h.advance(299) == []
    assert len(h.advance(1)) == 1
    h.engine.acknowledge(alert_id, "lead.carl")
    assert h.advance(3600) == []
    assert [a.action for a in h.engine.audit(alert_id)] == [
        "fire",
        "escalate",
        "renotify",
        "renotify",
        "acknowledge",
    ]


def test_silence_for_a_resident_in_hospital(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    silence = h.engine.silence(
        actor="admin", reason="in hospital", resident="r-1", ends=T0 + timedelta(days=2)
    )
    assert (
        h.engine.observe([item(obs("fall", at=T0, device="w-1", value_code="fall"), "r-1")]) == []
    )
    other = _fall(h, "r-2")  # another resident is not silenced
    assert h.engine.store.get(other).resident == "r-2"
    # a silence that starts later is a maintenance window
    h.engine.end_silence(silence.id)
    window = h.engine.silence(
        actor="admin",
        reason="sensor swap",
        rule="fall",
        starts=T0 + timedelta(hours=1),
        ends=T0 + timedelta(hours=2),
    )
    assert window.starts > h.clock.now()
    first = _fall(h, "r-1")  # before the window: alerts
    h.engine.acknowledge(first, "nurse")
    h.engine.resolve(first, "nurse", "ok")
    h.at(T0 + timedelta(hours=1, minutes=1))
    assert (
        h.engine.observe(
            [item(obs("fall", at=h.clock.now(), device="w-1", value_code="fall"), "r-1")]
        )
        == []
    )


def test_silence_pauses_escalation_of_an_open_alert(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    alert_id = _fall(h)
    h.engine.silence(actor="admin", reason="visit", resident="r-1", ends=T0 + timedelta(minutes=10))
    assert h.advance(300) == []  # deadline (180 s) passed during the silence
    h.at(T0 + timedelta(minutes=10))
    [escalated] = h.engine.tick()
    assert (escalated.alert_id, escalated.escalation_level) == (alert_id, 1)


def test_restart_in_the_middle_of_an_escalation(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    alert_id = _fall(h)
    [escalated] = h.advance(180)
    assert escalated.escalation_level == 1
    h.advance(100)
    h.restart()  # the hub restarts 280 s after the alert; the next deadline is at 780 s
    assert h.engine.store.get(alert_id).next_notify == T0 + timedelta(seconds=780)
    # a repeated fall from the same resident is deduplicated against the stored alert
    assert (
        h.engine.observe(
            [item(obs("fall", at=h.clock.now(), device="w-r-1", value_code="fall"), "r-1")]
        )
        == []
    )
    assert h.advance(499) == []  # 779 s: nothing re-notified early
    [renotified] = h.advance(1)
    assert (renotified.alert_id, renotified.sequence, renotified.escalation_level) == (
        alert_id,
        2,
        1,
    )
    h.restart()
    assert h.advance(299) == []
    outbox = h.conn.execute(
        "SELECT channel, sequence, COUNT(*) FROM alert_outbox WHERE alert_id = ?"
        " GROUP BY channel, sequence ORDER BY channel, sequence",
        (alert_id,),
    ).fetchall()
    assert outbox == [
        ("mqtt", 0, 1),
        ("mqtt", 1, 1),
        ("mqtt", 2, 1),
        ("webhook", 0, 1),
        ("webhook", 1, 1),
        ("webhook", 2, 1),
    ]
    assert [a.action for a in h.engine.audit(alert_id)] == ["fire", "escalate", "renotify"]
    assert len(h.engine.store.find()) == 1


def test_one_open_alert_per_rule_and_subject_is_enforced_by_the_database(
    hub_dbs: HubDatabases,
) -> None:
    h = Harness(hub_dbs, RULES)
    _fall(h)
    with pytest.raises(sqlite3.IntegrityError):
        h.conn.execute(
            "INSERT INTO alert SELECT 'a-copy', rule, subject, resident, home, organisation, state,"
            " severity, summary, assignee, sequence, is_open, opened_us, updated_us,"
            " escalation_level, next_notify_us, trigger_value, trigger_unit, trigger_us,"
            " trigger_detail FROM alert"
        )


def test_after_a_restart_active_conditions_still_clear(hub_dbs: HubDatabases) -> None:
    rules = RULES.replace("pending_seconds = 120", "pending_seconds = 0") + (
        '[[rule]]\nid = "silent"\nkind = "no_data"\nmax_silence_seconds = 600\n'
    )
    h = Harness(hub_dbs, rules)
    [low] = h.feed(obs("spo2", "90", at=T0, device="ox-1"))
    h.feed(obs("room_temperature", "21", at=T0, device="th-1"))
    [silent] = [e for e in h.advance(601) if e.rule == "silent" and "th-1" in e.summary]
    h.restart()
    held = h.feed(obs("spo2", "93", at=h.clock.now(), device="ox-1"))
    assert [e.rule for e in held] == ["silent"]  # ox-1 sends again; SpO2 93 keeps its alert
    [cleared] = h.feed(obs("spo2", "95", at=h.clock.now(), device="ox-1"))
    assert (cleared.alert_id, cleared.state) == (low.alert_id, AlertState.CLEARED_UNACK)
    [back] = h.feed(obs("room_temperature", "21", at=h.clock.now(), device="th-1"))
    assert (back.alert_id, back.state) == (silent.alert_id, AlertState.CLEARED_UNACK)


def test_history_figures_and_outbox_read_the_same_on_both_engines(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, RULES)
    alert_id = _fall(h)
    h.advance(180)  # escalated
    h.engine.acknowledge(alert_id, "nurse.anna", "calling")
    h.engine.resolve(alert_id, "nurse.anna", "fine")
    rows = history.alert_audit(h.conn, frozenset({"org-a"}), actor="nurse.anna")
    assert [(r.action, r.note) for r in rows] == [("resolve", "fine"), ("acknowledge", "calling")]
    assert history.alert_audit(h.conn, frozenset({"org-b"})) == []
    assert history.resolutions(h.conn, [alert_id])[alert_id].note == "fine"
    assert figures.open_alert_counts(h.conn) == {}
    _fall(h, "r-2")
    assert list(figures.open_alert_counts(h.conn)) == [("ACTIVE_UNACK", "critical")]
    assert figures.escalations_after(h.conn, 0) == (5, 1)
    store = h.engine.store
    due = store.due("webhook", h.clock.now())
    assert [(d.alert_id == alert_id, d.sequence) for d in due] == [
        (True, 0),
        (True, 1),
        (True, 2),
        (True, 3),
        (False, 0),
    ]
    store.delivered(due[0].id, h.clock.now())
    store.retry_later(due[1].id, None, "refused", give_up=True)
    store.retry_later(due[2].id, h.clock.now() + timedelta(minutes=5), "timeout")
    assert store.outbox_counts("webhook") == {"delivered": 1, "pending": 3, "failed": 1}
    assert store.next_due("webhook") == h.clock.now()
    summary = figures.outbox_summary(h.conn, h.clock.now() + timedelta(minutes=1))
    assert (summary.pending, summary.overdue, summary.failing) == (8, 7, 1)
    webhook = [c for c in figures.outbox_by_channel(h.conn) if c.channel == "webhook"]
    assert [(c.failed_attempts, c.pending, c.given_up) for c in webhook] == [(2, 3, 1)]
