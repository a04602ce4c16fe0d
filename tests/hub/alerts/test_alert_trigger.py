"""An alert keeps the reading that opened it (value, unit, time and the facts per rule kind),
across a restart, and a database from before the trigger columns is migrated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.alerts.store import MIGRATIONS, AlertStore
from hub.db import migrate, open_db
from schemas.models import StatusKind
from tests.support.alerts import T0, Harness, obs, status

RULES = """
[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.5

[[rule]]
id = "fall"
kind = "event"
measure = "fall"

[[rule]]
id = "gw"
kind = "gateway_offline"
heartbeat_timeout_seconds = 60

[[rule]]
id = "news2"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }]
min_parameters = 2
"""


def test_threshold_alert_keeps_value_unit_and_reading_time(tmp_path: Path) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    taken = T0 - timedelta(minutes=3)
    [fired] = h.feed(obs("body_temperature", "102.2", unit="[degF]", at=taken))
    row = h.engine.store.get(fired.alert_id)
    assert row.trigger_value is not None
    assert round(row.trigger_value, 1) == 39.0  # converted to the rule's unit
    assert row.trigger_unit == "Cel"
    assert row.trigger_time == taken
    assert row.trigger_detail == {
        "kind": "threshold",
        "watch": "body_temperature",
        "operator": ">=",
        "limit": 38.5,
    }
    h.restart()
    again = h.engine.store.get(fired.alert_id)
    assert (again.trigger_value, again.trigger_time) == (row.trigger_value, taken)


def test_event_gateway_and_news2_facts(tmp_path: Path) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    [fall] = h.feed(obs("fall", at=T0, value_code="possible_fall"))
    row = h.engine.store.get(fall.alert_id)
    assert row.trigger_detail == {"kind": "event", "watch": "fall", "code": "possible_fall"}
    assert row.trigger_time == T0

    h.engine.gateway(status("gw-9", StatusKind.HEARTBEAT, at=T0))
    [offline] = [e for e in h.advance(120) if e.rule == "gw"]
    detail = h.engine.store.get(offline.alert_id).trigger_detail
    assert detail == {"kind": "gateway_offline", "gateway": "gw-9", "why": "heartbeat"}

    now = h.clock.now()
    events = h.feed(obs("spo2", "90", at=now), obs("pulse_rate_oximeter", "135", at=now))
    [news] = [e for e in events if e.rule == "news2"]
    row = h.engine.store.get(news.alert_id)
    assert row.trigger_value == 6.0
    assert row.trigger_detail["points"] == {"spo2_scale_1": 3, "pulse": 3}


def test_database_from_before_the_trigger_columns_is_migrated(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "old.db")
    migrate(conn, "alerts", MIGRATIONS)
    conn.execute(
        "INSERT INTO alert (id, rule, subject, state, severity, summary, sequence, is_open,"
        " opened_us, updated_us) VALUES ('a-old', 'fall', 'resident:r-1', 'ACTIVE_UNACK',"
        " 'critical', 'fall: fall', 0, 1, 1, 1)"
    )
    store = AlertStore(conn)
    old = store.get("a-old")
    assert (old.trigger_value, old.trigger_time, old.trigger_detail) == (None, None, {})
    version = conn.execute(
        "SELECT MAX(version) FROM schema_migrations WHERE component = 'alert_trigger'"
    ).fetchone()
    assert version == (4,)
