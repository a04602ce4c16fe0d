"""Two ``hjem hub run`` processes on one PostgreSQL behind the real Mosquitto: the MQTT 5
shared subscription splits the gateways' messages across both (each node its own client id
in the group ``hubs``), every observation is stored exactly once (rows, samples, roll-ups and
the stored counter), and either node serves the dashboard and API with the same session:
signed in on one, the board and a CSRF-checked form on the other; sign-in failures on one
node throttle the other."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto, free_port
from hub.auth import Role, UserStore
from hub.config import PostgresSettings
from hub.store.postgresql_conn import PgConnection
from tests.hub.helpers import Client, expected_ids, wait_until
from tests.hub.processes import HubProcess, write_config
from tests.hub.test_hub_on_postgresql import _count
from tests.hub.test_processes import _messages
from tests.hub.web.conftest import csrf_of

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgresql, pytest.mark.slow]

PASSWORD = "korrekt-hest-batteri"
GATEWAYS = 4
MESSAGES = 400


def _config(tmp_path: Path, broker: Mosquitto, dsn: str, node: str) -> tuple[Path, int]:
    port = free_port()
    config = write_config(
        tmp_path / f"{node}.toml",
        tmp_path / f"{node}.sqlite3",
        broker.url,
        node,
        protocol="5",
        shared_group="hubs",
    )
    text = config.read_text(encoding="utf-8").replace(
        "[http]\nenabled = false", f"[http]\nenabled = true\nport = {port}"
    )
    text += f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{dsn}"\n'
    config.write_text(text, encoding="utf-8")
    return config, port


def _sign_in(client: httpx.Client, base: str, password: str) -> httpx.Response:
    page = client.get(f"{base}/sign-in")
    assert page.status_code == 200
    return client.post(
        f"{base}/sign-in",
        data={"username": "sara", "password": password, "csrf_token": csrf_of(page.text)},
    )


def _split_and_stored_once(broker: Mosquitto, dsn: str, hubs: list[HubProcess]) -> None:
    publishers = [Client(broker, f"gw-{i}-client") for i in range(GATEWAYS)]
    want: set[str] = set()
    try:
        for i, pub in enumerate(publishers):
            pub.publish_many(_messages(f"gw-{i}", 0, MESSAGES, 1))
            want |= expected_ids(f"gw-{i}", 0, MESSAGES, f"dev-gw-{i}")
        wait_until(
            lambda: _count(dsn, "SELECT COUNT(*) FROM observation") >= len(want),
            timeout=120,
            what="every observation stored",
        )
    finally:
        for pub in publishers:
            pub.close()
    with psycopg.connect(dsn) as conn:
        ids = {str(r[0]) for r in conn.execute("SELECT id FROM observation").fetchall()}
    assert ids == want
    assert _count(dsn, "SELECT COUNT(*) FROM observation") == len(want)  # none twice
    assert _count(dsn, "SELECT COALESCE(SUM(n), 0) FROM rollup WHERE width_s = 300") == len(want)
    counter = "SELECT SUM(value) FROM counter WHERE name = 'observations_stored'"
    assert _count(dsn, counter) == len(want)


def test_two_hub_nodes_share_the_subscription_the_database_and_the_sessions(
    broker: Mosquitto, postgres_dsn: str, tmp_path: Path
) -> None:
    conn = PgConnection(PostgresSettings(dsn=SecretStr(postgres_dsn)))
    try:
        UserStore(conn, utcnow).create_user("sara", PASSWORD, Role.CARE_STAFF, "org-a")
    finally:
        conn.close()
    configs = [_config(tmp_path, broker, postgres_dsn, f"hub-{n}") for n in ("a", "b")]
    hubs = [HubProcess(c, tmp_path / f"{c.stem}.log").start() for c, _ in configs]
    base_a, base_b = (f"http://127.0.0.1:{port}" for _, port in configs)
    try:
        _split_and_stored_once(broker, postgres_dsn, hubs)
        with httpx.Client(trust_env=False, timeout=30) as browser:
            assert _sign_in(browser, base_a, PASSWORD).status_code == 303  # on node a
            board = browser.get(f"{base_b}/board")  # node b knows the session
            assert board.status_code == 200
            assert 'data-stream="' in board.text
            out = browser.post(f"{base_b}/sign-out", data={"csrf_token": csrf_of(board.text)})
            assert out.status_code == 303  # node b accepted node a's session's CSRF token
            assert browser.get(f"{base_a}/board").status_code in (302, 303, 307)  # ended
        with httpx.Client(trust_env=False, timeout=30) as browser:
            for _ in range(6):  # failures on node a ...
                assert _sign_in(browser, base_a, "nope-nope-nope").status_code == 401
            throttled = _sign_in(browser, base_b, PASSWORD)  # ... throttle node b
            assert throttled.status_code == 429
        for hub in hubs:
            assert hub.stop() == 0
        shares = [hub.stored_reported() for hub in hubs]
        print(f"observations stored by each hub node: {shares}")
        assert sum(shares) == GATEWAYS * MESSAGES
        assert all(share > 0 for share in shares), "the shared subscription did not split"
    finally:
        for hub in hubs:
            hub.stop()
