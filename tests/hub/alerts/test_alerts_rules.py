"""Scripted rule scenarios through the engine on a real SQLite file, with a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.inputs import Subject
from schemas.models import AlertState, DeviceHealth, GatewayStatus, Severity, StatusKind
from tests.support.alerts import T0, Harness, bp, item, obs, status
from tests.support.hub_db import HubDatabases

SPO2 = """
[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
clear_value = 94
pending_seconds = 300
severity = "high"
"""


def test_threshold_pending_duration(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, SPO2)
    assert h.feed(obs("spo2", "91", at=T0)) == []  # pending starts
    h.advance(100)
    assert h.feed(obs("spo2", "90", at=h.clock.now())) == []
    h.advance(100)
    assert h.feed(obs("spo2", "93", at=h.clock.now())) == []  # back above 92: pending reset
    h.advance(50)
    assert h.feed(obs("spo2", "91", at=h.clock.now())) == []  # pending starts again at +250
    assert h.advance(299) == []  # +549: 299 s below
    fired = h.advance(1)  # +550: 300 s below, no reading needed
    assert [(e.rule, e.state, e.severity) for e in fired] == [
        ("spo2-low", AlertState.ACTIVE_UNACK, Severity.HIGH)
    ]
    assert fired[0].resident == "r-1"
    assert fired[0].summary == "spo2 91 < 92"


def test_threshold_hysteresis_and_dedup(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, SPO2.replace("pending_seconds = 300", "pending_seconds = 0"))
    assert len(h.feed(obs("spo2", "90", at=T0))) == 1
    for value in ("89", "91", "92", "93"):  # still below the clear value 94: one open alert
        h.advance(60)
        assert h.feed(obs("spo2", value, at=h.clock.now())) == []
    h.advance(60)
    cleared = h.feed(obs("spo2", "94", at=h.clock.now()))
    assert [e.state for e in cleared] == [AlertState.CLEARED_UNACK]
    assert cleared[0].previous_state is AlertState.ACTIVE_UNACK
    # firing again while cleared-but-unacknowledged reopens the same alert
    h.advance(60)
    again = h.feed(obs("spo2", "90", at=h.clock.now()))
    assert [e.state for e in again] == [AlertState.ACTIVE_UNACK]
    assert again[0].alert_id == cleared[0].alert_id
    assert len(h.engine.store.find()) == 1


def test_threshold_per_resident_and_without_resident(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, SPO2.replace("pending_seconds = 300", "pending_seconds = 0"))
    events = h.engine.observe(
        [
            item(obs("spo2", "90", at=T0, device="ox-1"), "r-1"),
            item(obs("spo2", "90", at=T0, device="ox-2"), "r-2"),
            item(obs("spo2", "80", at=T0, device="ox-3"), None),  # unassigned device: no alert
        ]
    )
    assert sorted(e.resident or "" for e in events) == ["r-1", "r-2"]


def test_units_and_compound_components(hub_dbs: HubDatabases) -> None:
    rules = """
[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.5
[[rule]]
id = "sbp-high"
kind = "threshold"
measure = "blood_pressure_systolic"
operator = ">"
value = 180
clear_value = 160
"""
    h = Harness(hub_dbs, rules)
    assert h.feed(obs("body_temperature", "101.0", at=T0, unit="[degF]")) == []  # 38.33 Cel
    fever = h.feed(obs("body_temperature", "101.5", at=T0, unit="[degF]"))  # 38.61 Cel
    assert [e.rule for e in fever] == ["fever"]
    sbp = h.feed(bp("185", "95", at=T0))
    assert [(e.rule, e.summary) for e in sbp] == [("sbp-high", "blood_pressure_systolic 185 > 180")]
    assert [e.state for e in h.feed(bp("165", "90", at=T0))] == []  # between 160 and 180
    assert [e.state for e in h.feed(bp("158", "90", at=T0))] == [AlertState.CLEARED_UNACK]


KITCHEN = """
[[rule]]
id = "kitchen-morning"
kind = "inactivity"
measure = "motion"
room = "kitchen"
window_start = 07:00:00
window_end = 10:00:00
timezone = "Europe/Copenhagen"
days = ["mon", "tue", "wed", "thu", "fri"]
"""


def test_inactivity_window_in_local_time(hub_dbs: HubDatabases) -> None:
    monday_0500 = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 06:00 in Copenhagen (UTC+1)
    h = Harness(hub_dbs, KITCHEN, start=monday_0500)
    h.engine.track([Subject("resident:r-1", "r-1", "h-1", "org-a")])
    h.engine.track([Subject("resident:r-2", "r-2", "h-2", "org-a")])
    # r-1 moves in the kitchen at 08:10 local; r-2 only in the bedroom (and a false reading)
    h.at(datetime(2026, 11, 30, 7, 10, tzinfo=UTC))
    h.engine.observe(
        [item(obs("motion", at=h.clock.now(), value_boolean=True), "r-1", room="kitchen")]
    )
    h.engine.observe(
        [
            item(
                obs("motion", at=h.clock.now(), device="m-2", value_boolean=True),
                "r-2",
                room="bedroom",
            ),
            item(
                obs("motion", at=h.clock.now(), device="m-3", value_boolean=False),
                "r-2",
                room="kitchen",
            ),
        ]
    )
    h.at(datetime(2026, 11, 30, 8, 59, 59, tzinfo=UTC))  # 09:59:59 local
    assert h.engine.tick() == []
    h.at(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # 10:00 local: the window closes
    fired = h.engine.tick()
    assert [(e.resident, e.state) for e in fired] == [("r-2", AlertState.ACTIVE_UNACK)]
    assert fired[0].summary == "no motion between 07:00-10:00"
    assert h.advance(3600) == []  # evaluated once per day
    # r-2 shows up in the kitchen at 11:30 local: the alert clears
    cleared = h.engine.observe(
        [
            item(
                obs("motion", at=h.clock.now(), device="m-3", value_boolean=True),
                "r-2",
                room="kitchen",
            )
        ]
    )
    assert [e.state for e in cleared] == [AlertState.CLEARED_UNACK]


def test_inactivity_respects_days_summer_time_and_new_residents(hub_dbs: HubDatabases) -> None:
    saturday = datetime(2026, 7, 4, 4, 0, tzinfo=UTC)  # 06:00 in Copenhagen (UTC+2)
    h = Harness(hub_dbs, KITCHEN, start=saturday)
    h.engine.track([Subject("resident:r-1", "r-1", "h-1", "org-a")])
    h.at(datetime(2026, 7, 4, 9, 0, tzinfo=UTC))
    assert h.engine.tick() == []  # Saturday is not a scheduled day
    h.at(datetime(2026, 7, 6, 7, 59, tzinfo=UTC))  # Monday 09:59 local (summer time)
    assert h.engine.tick() == []
    # a resident first known during the window is not judged on that window
    h.engine.track([Subject("resident:r-9", "r-9", "h-9", "org-a")])
    h.at(datetime(2026, 7, 6, 8, 0, tzinfo=UTC))  # 10:00 local
    assert [e.resident for e in h.engine.tick()] == ["r-1"]


def test_no_data_from_a_device(hub_dbs: HubDatabases) -> None:
    rules = '[[rule]]\nid = "silent"\nkind = "no_data"\nmax_silence_seconds = 7200\n'
    h = Harness(hub_dbs, rules)
    h.feed(obs("room_temperature", "21.0", at=T0, device="th-1"))
    assert h.advance(7200) == []
    fired = h.advance(1)
    assert [(e.rule, e.state, e.summary) for e in fired] == [
        ("silent", AlertState.ACTIVE_UNACK, "no data from device th-1 for 2 h")
    ]
    assert h.advance(7200) == []  # one alert, not one per tick
    back = h.feed(obs("room_temperature", "21.0", at=h.clock.now(), device="th-1"))
    assert [e.state for e in back] == [AlertState.CLEARED_UNACK]


def test_gateway_last_will_grace_and_missed_heartbeats(hub_dbs: HubDatabases) -> None:
    rules = (
        '[[rule]]\nid = "gw"\nkind = "gateway_offline"\nheartbeat_timeout_seconds = 180\n'
        "grace_seconds = 60\n"
    )
    h = Harness(hub_dbs, rules)
    h.engine.gateway(status("gw-1", StatusKind.BIRTH, at=T0))
    h.advance(30)
    assert h.engine.gateway(status("gw-1", StatusKind.DEATH, at=h.clock.now(), online=False)) == []
    assert h.advance(59) == []  # within the grace period
    fired = h.advance(1)
    assert [(e.summary, e.state) for e in fired] == [
        ("gateway gw-1 went offline (last will)", AlertState.ACTIVE_UNACK)
    ]
    back = h.engine.gateway(status("gw-1", StatusKind.BIRTH, at=h.clock.now()))
    assert [e.state for e in back] == [AlertState.CLEARED_UNACK]
    # observations through the gateway count as signs of life; then silence
    h.advance(170)
    h.feed(obs("spo2", "97", at=h.clock.now(), publisher="gw-1"))
    assert h.advance(180) == []
    missed = h.advance(1)
    assert [e.summary for e in missed] == ["gateway gw-1 missed its heartbeats"]


def test_battery_low_from_observations_and_gateway_health(hub_dbs: HubDatabases) -> None:
    rules = (
        '[[rule]]\nid = "battery"\nkind = "battery_low"\nbelow_percent = 15\nclear_percent = 25\n'
    )
    h = Harness(hub_dbs, rules)
    fired = h.feed(obs("battery", "12", at=T0, device="th-7"))
    assert [(e.rule, e.severity) for e in fired] == [("battery", Severity.LOW)]
    assert h.feed(obs("battery", "20", at=T0, device="th-7")) == []
    assert [e.state for e in h.feed(obs("battery", "26", at=T0, device="th-7"))] == [
        AlertState.CLEARED_UNACK
    ]
    health = GatewayStatus(
        publisher="gw-1",
        kind=StatusKind.HEARTBEAT,
        online=True,
        time=T0,
        devices=[DeviceHealth(id="btn-1", battery_percent=9), DeviceHealth(id="btn-2")],
    )
    from hub.alerts.inputs import GatewayInput

    events = h.engine.gateway(GatewayInput(health, home="h-1", organisation="org-a"))
    assert [(e.rule, e.summary) for e in events] == [("battery", "battery 9 < 15")]


def test_device_events_fire_at_once_and_deduplicate(hub_dbs: HubDatabases) -> None:
    rules = (
        '[[rule]]\nid = "fall"\nkind = "event"\nmeasure = "fall"\n'
        '[[rule]]\nid = "panic"\nkind = "event"\nmeasure = "panic"\ncodes = ["press"]\n'
        'clear_codes = ["cancel"]\n'
    )
    h = Harness(hub_dbs, rules)
    fall = h.feed(obs("fall", at=T0, device="w-1", value_code="fall"))
    assert [(e.rule, e.severity, e.summary) for e in fall] == [
        ("fall", Severity.CRITICAL, "fall: fall")
    ]
    assert (
        h.feed(obs("fall", at=T0 + timedelta(seconds=5), device="w-1", value_code="possible_fall"))
        == []
    )
    press = h.feed(obs("panic", at=T0, device="b-1", value_code="press"))
    assert [e.rule for e in press] == ["panic"]
    cancel = h.feed(obs("panic", at=T0, device="b-1", value_code="cancel"))
    assert [e.state for e in cancel] == [AlertState.CLEARED_UNACK]
    assert len(h.engine.store.find(states=[AlertState.ACTIVE_UNACK])) == 1


NEWS2 = """
[[rule]]
id = "news2"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }, { min_score = 7, severity = "critical" }]
single_parameter_3 = "medium"
max_age_seconds = 3600
min_parameters = 3
"""


def test_news2_from_latest_home_vitals(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, NEWS2)
    # RR 22 (2), SpO2 94 (1) -> only two parameters: no score yet
    assert h.feed(obs("respiration_rate", "22", at=T0), obs("spo2", "94", at=T0)) == []
    # pulse 102 (1), temperature 38.4 (1), SBP 118 (0): total 5 -> high
    fired = h.feed(
        obs("heart_rate", "102", at=T0),
        obs("body_temperature", "38.4", at=T0),
        bp("118", "80", at=T0),
    )
    assert [(e.state, e.severity) for e in fired] == [(AlertState.ACTIVE_UNACK, Severity.HIGH)]
    assert fired[0].summary.startswith("NEWS2 (home subset) 5:")
    assert "consciousness" in fired[0].summary
    # SpO2 falls to 91 (3): total 7 -> the open alert becomes critical, no second alert
    worse = h.feed(obs("spo2", "91", at=T0 + timedelta(minutes=5)))
    assert [(e.state, e.severity, e.alert_id) for e in worse] == [
        (AlertState.ACTIVE_UNACK, Severity.CRITICAL, fired[0].alert_id)
    ]
    # everything normal again: cleared
    h.at(T0 + timedelta(minutes=30))
    normal = h.feed(
        obs("respiration_rate", "16", at=h.clock.now()),
        obs("spo2", "97", at=h.clock.now()),
        obs("heart_rate", "70", at=h.clock.now()),
        obs("body_temperature", "36.9", at=h.clock.now()),
    )
    assert [e.state for e in normal][-1] is AlertState.CLEARED_UNACK


def test_news2_ignores_stale_readings_and_scores_a_single_three(hub_dbs: HubDatabases) -> None:
    h = Harness(hub_dbs, NEWS2)
    h.feed(obs("respiration_rate", "30", at=T0))  # 3, but will be stale
    h.at(T0 + timedelta(hours=2))
    now = h.clock.now()
    assert h.feed(obs("spo2", "97", at=now), obs("heart_rate", "70", at=now)) == []
    fired = h.feed(bp("85", "60", at=now))  # SBP 85 scores 3: a single red parameter
    assert [(e.severity) for e in fired] == [Severity.MEDIUM]
    assert "systolic_bp 3" in fired[0].summary


def test_personal_baseline_deviation(hub_dbs: HubDatabases) -> None:
    rules = (
        '[[rule]]\nid = "weight"\nkind = "baseline"\nmeasure = "body_weight"\n'
        "min_samples = 10\nscore = 3.5\nclear_score = 2.5\n"
    )
    h = Harness(hub_dbs, rules)
    weights = ["71.8", "72.0", "72.3", "71.9", "72.1", "72.4", "71.7", "72.0", "72.2", "71.9"]
    for day, weight in enumerate(weights):
        assert h.feed(obs("body_weight", weight, at=T0 + timedelta(days=day))) == []
    fired = h.feed(obs("body_weight", "74.5", at=T0 + timedelta(days=10)))  # +2.5 kg overnight
    assert [e.rule for e in fired] == ["weight"]
    assert "robust score +" in fired[0].summary
    back = h.feed(obs("body_weight", "72.1", at=T0 + timedelta(days=11)))
    assert [e.state for e in back] == [AlertState.CLEARED_UNACK]
