"""A small synthetic cohort streamed into a REAL hub (real Mosquitto with the shipped
configuration and ACL, the gateways' and vendors' own logins, the shipped alert rules).

Every message is accepted, every reading is stored for its resident, and the hub's alerts
match the cohort's labels:

* fever (``fever`` rule, >= 38.5 °C): exactly the residents with a febrile episode label
  (an episode whose highest temperature reading is >= 38.5) get a fever alert; the reading
  that last (re)opened it lies inside one of their febrile episodes; the alert (re)opened at
  least once per disjoint febrile episode.
* falls (``fall`` rule): exactly the residents whose fall detector reported a fall or a
  false alarm get a fall alert, and its trigger is the first such event (tolerance: the
  detector reports 5-40 s after the fall, so within 60 s of the labelled fall time).
* SpO2 (``spo2-low``) is not compared: its 5-minute pending time runs on the hub's clock,
  and a replayed stream arrives within seconds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.db import open_db
from hub.service import Hub
from synth.cohort import CohortSpec
from synth.hubio import provision, read_store
from synth.params import Params
from synth.stream import stream_mqtt
from synth.writer import write_cohort
from tests.security.mqtt_fleet import shipped_hub_settings
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DAYS = 12
START = datetime.now(UTC).date() - timedelta(days=DAYS + 2)
ILL = Params(infection_rate=12.0, fall_rate=6.0, false_fall_alarm_per_day=0.02)


def _us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, object]]:
    root = tmp_path_factory.mktemp("synth-hub")
    cohort = root / "cohort"
    write_cohort(CohortSpec(8, DAYS, 2, 11, START), ILL, cohort, ("jsonl", "labels"))
    database = root / "hub.sqlite3"
    conn = open_db(database)
    creds = provision(cohort / "registry.json", conn)
    conn.close()
    secure: SecureBroker = start_secure_broker(
        root / "broker", {"hub": "hub-secret-123", **creds.passwords}
    )
    try:
        outcome = asyncio.run(_run(secure, database, cohort, creds.passwords))
        yield cohort, database, outcome
    finally:
        secure.broker.stop()


async def _run(
    secure: SecureBroker, database: Path, cohort: Path, passwords: dict[str, str]
) -> object:
    settings = shipped_hub_settings(secure, database, username="hub")
    lines = (cohort / "observations.jsonl").read_text().count("\n")
    async with Hub(settings):
        url = f"mqtt://127.0.0.1:{secure.plain_port}"
        outcome = await asyncio.to_thread(stream_mqtt, cohort, url, passwords)
        deadline = asyncio.get_running_loop().time() + 60
        while _stored(database) < lines and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # alerts follow the commit
    return outcome


def _stored(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM observation").fetchone()[0])


def test_every_message_is_accepted_and_stored_for_its_resident(streamed: tuple) -> None:
    cohort, database, outcome = streamed
    lines = (cohort / "observations.jsonl").read_text().splitlines()
    assert outcome.rejections == []
    assert outcome.sent_observations == len(lines)
    with sqlite3.connect(database) as conn:
        rows = dict(conn.execute("SELECT id, resident_id FROM observation").fetchall())
    assert len(rows) == len(lines)
    assert None not in rows.values()
    numeric = read_store(database)
    assert len({r[0] for r in numeric}) == 8


def _labels(cohort: Path) -> list[dict]:
    return [json.loads(x) for x in (cohort / "labels.jsonl").read_text().splitlines()]


def _alerts(database: Path, rule: str) -> dict[str, tuple[int, int]]:
    """resident -> (trigger time µs, number of fire/refire audit rows) for ``rule``."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT a.resident, a.trigger_us, count(*) FROM alert a JOIN alert_audit u"
            " ON u.alert_id = a.id WHERE a.rule = ? AND u.action IN ('fire', 'refire')"
            " GROUP BY a.id",
            (rule,),
        ).fetchall()
    return {r: (t, n) for r, t, n in rows}


def test_fever_alerts_match_febrile_episode_labels(streamed: tuple) -> None:
    cohort, database, _ = streamed
    febrile = defaultdict(list)
    for label in _labels(cohort):
        if label["type"] == "episode" and (label["max_temperature"] or 0) >= 38.5:
            febrile[label["resident"]].append((_us(label["prodrome_start"]), _us(label["end"])))
    alerts = _alerts(database, "fever")
    assert febrile, "the cohort should have febrile episodes (infection rate raised)"
    assert set(alerts) == set(febrile)
    for resident, (trigger_us, fires) in alerts.items():
        windows = sorted(febrile[resident])
        assert any(lo <= trigger_us <= hi for lo, hi in windows), resident
        disjoint = sum(1 for i, w in enumerate(windows) if i == 0 or w[0] > windows[i - 1][1])
        assert disjoint <= fires, resident


def test_fall_alerts_match_fall_labels(streamed: tuple) -> None:
    cohort, database, _ = streamed
    first: dict[str, int] = {}
    for label in _labels(cohort):
        if (label["type"] == "fall" and label["detected"]) or label["type"] == "false_fall_alarm":
            t = _us(label["time"])
            first[label["resident"]] = min(t, first.get(label["resident"], t))
    alerts = _alerts(database, "fall")
    assert first, "the cohort should have detected falls (fall rate raised)"
    assert set(alerts) == set(first)
    for resident, (trigger_us, _) in alerts.items():
        assert 0 <= trigger_us - first[resident] <= 60_000_000, resident
