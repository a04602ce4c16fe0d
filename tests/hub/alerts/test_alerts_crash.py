"""A real ``hjem hub run`` SIGKILLed with a threshold pending and an escalation running,
started again: the pending alert fires once when its time is up, the escalation goes on at
its deadline, and every stored observation is evaluated once (the feed position reaches the
newest). Real clock, real Mosquitto, the hub's SQLite file; generous deadlines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto
from hub.db import from_micros, open_db
from hub.registry.core import Registry
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.hub.fhir_push.helpers import ANNA, BENT, DEVICES, VENDOR, setup_registry
from tests.hub.helpers import Client, wait_until
from tests.hub.processes import HubProcess, write_config

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ACK_DEADLINE = 30
PENDING = 40
RULES = f"""
[escalation.care]
repeat_seconds = 600
steps = [
  {{ responder = "team:day", ack_deadline_seconds = {ACK_DEADLINE} }},
  {{ responder = "team:lead", ack_deadline_seconds = 600 }},
]

[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">"
value = 38
escalation = "care"

[[rule]]
id = "fever-lasting"
kind = "threshold"
measure = "body_temperature"
operator = ">"
value = 39
pending_seconds = {PENDING}
"""
LATE = timedelta(seconds=15)
"""How late after its due time the restarted hub may act (it ticks every second)."""


def _config(tmp_path: Path, broker: Mosquitto) -> Path:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    conf = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-a")
    text = conf.read_text(encoding="utf-8").replace(
        "[alerts]\nenabled = false\n", f'[alerts]\nrules_file = "{rules}"\nmqtt = false\n'
    )
    conf.write_text(text, encoding="utf-8")
    return conf


def _message(name: str, *temperatures: tuple[str, str]) -> tuple[str, bytes]:
    now = utcnow()
    observations = [
        make_observation(
            "body_temperature",
            source=Source(publisher=VENDOR, device=DeviceInfo(id=DEVICES[resident])),
            effective=now,
            value=value,
        )
        for resident, value in temperatures
    ]
    batch = Batch(message_id=name, publisher=VENDOR, sent=now, observations=observations)
    return f"hjem/v1/{VENDOR}/obs", encode(batch)


class Db:
    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = open_db(self.path)
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    def actions(self) -> list[tuple[str, str, datetime]]:
        rows = self.rows(
            "SELECT a.rule, u.action, u.time_us FROM alert_audit u"
            " JOIN alert a ON a.id = u.alert_id ORDER BY u.seq"
        )
        return [(str(r), str(a), from_micros(int(str(t)))) for r, a, t in rows]

    def pending_since(self) -> datetime | None:
        rows = self.rows("SELECT state FROM alert_rule_state WHERE rule = 'fever-lasting'")
        if not rows:
            return None
        pending = json.loads(str(rows[0][0]))[1]
        return None if pending is None else from_micros(int(pending))

    def evaluated_everything(self) -> bool:
        [(position, newest)] = self.rows(
            "SELECT (SELECT position FROM alert_feed_cursor WHERE feed = 'observations'),"
            " (SELECT MAX(rowid) FROM observation)"
        )
        return position == newest


def test_a_killed_hub_fires_the_pending_alert_once_and_escalates_on_time(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db = Db(tmp_path / "hub.sqlite3")
    conn = open_db(db.path)
    setup_registry(Registry(conn), start=utcnow())
    conn.close()
    hub = HubProcess(_config(tmp_path, broker), tmp_path / "hub.log").start()
    vendor = Client(broker, "vendor-client")
    try:
        vendor.publish_many([_message("m-1", (ANNA, "39.5"), (BENT, "36.8"))])
        wait_until(
            lambda: db.pending_since() is not None and ("fever", "fire") in _pairs(db),
            timeout=60,
            what="the fever alert and the pending lasting-fever threshold",
        )
        [(due_us,)] = db.rows("SELECT next_notify_us FROM alert WHERE rule = 'fever'")
        escalation_due = from_micros(int(str(due_us)))
        pending_since = db.pending_since()
        assert pending_since is not None
        hub.kill()
        hub.start()
        vendor.publish_many([_message("m-2", (BENT, "36.9"))])
        wait_until(
            lambda: {("fever-lasting", "fire"), ("fever", "escalate")} <= set(_pairs(db)),
            timeout=PENDING + 120,
            what="the lasting fever to fire and the fever alert to escalate",
        )
        wait_until(db.evaluated_everything, timeout=60, what="the feed to catch up")
        assert hub.stop() == 0
    finally:
        vendor.close()
        hub.stop()
    actions = db.actions()
    assert _pairs(db) == [("fever", "fire"), ("fever", "escalate"), ("fever-lasting", "fire")]
    fired = next(t for r, a, t in actions if (r, a) == ("fever-lasting", "fire"))
    escalated = next(t for r, a, t in actions if (r, a) == ("fever", "escalate"))
    due = pending_since + timedelta(seconds=PENDING)
    assert due <= fired <= due + LATE
    assert escalation_due <= escalated <= escalation_due + LATE


def _pairs(db: Db) -> list[tuple[str, str]]:
    return [(rule, action) for rule, action, _ in db.actions()]
