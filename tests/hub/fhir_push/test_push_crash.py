"""A real ``hjem hub run`` SIGKILLed right after it stored observations from MQTT, then
started again: every consented observation reaches Medplum's FHIR server exactly once.

The hub acknowledges a group of MQTT messages once its commit returns, and only then runs its
post-commit listeners; the kill lands there. The exporter reads the store's numbered feed from
a cursor kept with its outbox, so what the killed hub stored and never queued is queued by the
next one (a listener that queued would have lost it: the broker's redelivery is a duplicate
the store skips, and nothing else would look at those rows again).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto
from hub.db import open_db
from hub.fhir.consent import Consents
from hub.registry.core import Registry
from schemas.models import Batch, encode
from tests.hub.fhir_push.helpers import (
    ANNA,
    BENT,
    DEVICES,
    HOSPITAL,
    VENDOR,
    pushed_ids,
    reading,
    setup_registry,
)
from tests.hub.helpers import Client, wait_until
from tests.hub.processes import HubProcess, write_config
from tests.support.medplum import MedplumServer

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

START = utcnow().replace(microsecond=0) - timedelta(hours=12)
PER_MESSAGE = 50


def _config(tmp_path: Path, broker: Mosquitto, medplum: MedplumServer) -> Path:
    token = tmp_path / "hospital.token"
    token.write_text(medplum.token, encoding="utf-8")
    conf = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-push")
    with conf.open("a", encoding="utf-8") as out:
        out.write(
            "[fhir_push]\nidle_s = 0.2\n[[fhir_push.recipients]]\n"
            f'name = "hospital"\norganisation = "{HOSPITAL}"\nbase_url = "{medplum.base}"\n'
            "backoff_initial_s = 0.05\nbackoff_max_s = 0.5\n"
            f'auth = {{ kind = "bearer", token_file = "{token}" }}\n'
        )
    return conf


def _prepare(database: Path) -> None:
    """The registry and Anna's consent (Bent has none), before the hub's first start."""
    conn = open_db(database)
    try:
        setup_registry(Registry(conn), start=START)
        Consents(conn).add(ANNA, HOSPITAL, "TREAT", START - timedelta(days=1), None, actor="t")
    finally:
        conn.close()


def _messages(first: int, count: int) -> list[tuple[str, bytes]]:
    readings = [
        reading(DEVICES[resident], first + i, start=START)
        for i in range(count)
        for resident in (ANNA, BENT)
    ]
    return [
        (
            f"hjem/v1/{VENDOR}/obs",
            encode(
                Batch(
                    message_id=f"m-{first}-{n}",
                    publisher=VENDOR,
                    sent=utcnow(),
                    observations=readings[n : n + PER_MESSAGE],
                )
            ),
        )
        for n in range(0, len(readings), PER_MESSAGE)
    ]


def _kill_once_stored(hub: HubProcess, database: Path, total: int) -> None:
    """SIGKILL the hub the moment the store holds ``total`` observations (its commit is
    done, so its acknowledgement is on its way and its listeners have yet to run)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        deadline = time.monotonic() + 120
        while conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0] < total:
            assert time.monotonic() < deadline, "the hub did not store the readings"
            time.sleep(0.0002)
        hub.kill()
    finally:
        conn.close()


def _pending(database: Path) -> tuple[int, int, int]:
    """(rows queued, the recipient's cursor, the newest stored observation's number)."""
    conn = open_db(database)
    try:
        queued = conn.execute("SELECT COUNT(*) FROM fhir_push_outbox").fetchone()[0]
        cursor = conn.execute(
            "SELECT COALESCE(stored_cursor, -1) FROM fhir_push_state WHERE recipient = 'hospital'"
        ).fetchone()
        top = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM observation").fetchone()[0]
        return int(queued), int(cursor[0]) if cursor else -1, int(top)
    finally:
        conn.close()


def test_a_hub_killed_after_storing_pushes_everything_once_when_restarted(
    broker: Mosquitto, medplum: MedplumServer, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    _prepare(database)
    hub = HubProcess(_config(tmp_path, broker, medplum), tmp_path / "hub.log").start()
    pub = Client(broker, "vendor-client")
    try:
        rounds = [(0, 60), (100, 150)]
        total = 0
        for first, count in rounds:  # killed after each round's last commit, started again
            pub.publish_many(_messages(first, count))
            total += 2 * count
            _kill_once_stored(hub, database, total)
            print(f"at the kill: (queued, cursor, newest) = {_pending(database)}")
            hub.start()
        want = sorted(
            reading(DEVICES[ANNA], first + i, start=START).id
            for first, count in rounds
            for i in range(count)
        )
        wait_until(
            lambda: _pending(database)[0] == 0 and _pending(database)[1] == _pending(database)[2],
            timeout=180,
            what="the outbox to empty and the cursor to reach the newest observation",
        )
        assert hub.stop() == 0
        assert pushed_ids(medplum) == want  # each consented observation once, Bent's none
        patients = medplum.resources("Patient")
        assert [p["identifier"][0]["value"] for p in patients] == [ANNA]
        assert medplum.stats()["refused"] == 0
    finally:
        pub.close()
        hub.stop()
