"""The dashboard's live stream on a hub node that does not lead (two ``hjem hub run``
processes on one PostgreSQL, each serving the dashboard and API): a stream connected to the
follower receives the alert the leader raised and the acknowledgement made on the leader's
API; the leader is SIGKILLed, and the same stream, still open, receives the next alert, which
the survivor raises as the new leader. Each change once."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto, free_port
from hub.auth import Role, UserStore
from hub.config import PostgresSettings
from hub.registry.core import Registry
from hub.store.postgresql_conn import PgConnection
from schemas.models import AlertEvent
from tests.hub.alerts.test_alerts_crash import _message
from tests.hub.alerts.test_alerts_two_nodes import _leads
from tests.hub.fhir_push.helpers import ANNA, BENT, setup_registry
from tests.hub.helpers import Client, wait_until
from tests.hub.processes import HubProcess, write_config
from tests.hub.test_hub_on_postgresql import RULES

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgresql, pytest.mark.slow]


class Stream:
    """An SSE client of one node's ``/api/v1/alerts/stream``, read by a thread."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[AlertEvent] = []
        self.lines: list[str] = []
        self.ended = threading.Event()
        self._client = httpx.Client(base_url=url, trust_env=False, timeout=None)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/alerts/stream", headers=self._headers) as r:
                for line in r.iter_lines():
                    self.lines.append(line)
                    if line.startswith("data: "):
                        self.events.append(AlertEvent.model_validate_json(line[6:]))
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def heard(self) -> list[tuple[str | None, int, str]]:
        return [(e.resident, e.sequence, e.state.name) for e in self.events]

    def close(self) -> None:
        self._client.close()


def _config(tmp_path: Path, broker: Mosquitto, dsn: str, node: str) -> tuple[Path, int]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    port = free_port()
    config = write_config(tmp_path / f"{node}.toml", tmp_path / f"{node}.sqlite3", broker.url, node)
    text = (
        config.read_text(encoding="utf-8")
        .replace("[http]\nenabled = false", f"[http]\nenabled = true\nport = {port}")
        .replace("[alerts]\nenabled = false", f'[alerts]\nrules_file = "{rules}"\nmqtt = false')
    )
    text += f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{dsn}"\n'
    config.write_text(text, encoding="utf-8")
    return config, port


def _prepare(dsn: str) -> str:
    """The registry of Anna and Bent, and a nurse of their organisation with an API token."""
    conn = PgConnection(PostgresSettings(dsn=SecretStr(dsn)))
    try:
        setup_registry(Registry(conn), start=utcnow())
        users = UserStore(conn, utcnow)
        nurse = users.create_user("nurse", "long enough pw", Role.CARE_STAFF, "kommune-a")
        return users.issue_token(nurse.id, "board")
    finally:
        conn.close()


def test_a_stream_on_the_follower_hears_the_leader_and_outlives_it(
    broker: Mosquitto, postgres_dsn: str, tmp_path: Path
) -> None:
    token = _prepare(postgres_dsn)
    config_a, port_a = _config(tmp_path, broker, postgres_dsn, "hub-a")
    config_b, port_b = _config(tmp_path, broker, postgres_dsn, "hub-b")
    a = HubProcess(config_a, tmp_path / "a.log").start()
    wait_until(lambda: _leads(a, "hub-a"), timeout=30, what="hub-a to lead")
    b = HubProcess(config_b, tmp_path / "b.log").start()
    stream = Stream(f"http://127.0.0.1:{port_b}", token)
    vendor = Client(broker, "vendor-client")
    try:
        wait_until(lambda: ": subscribed" in stream.lines, timeout=30, what="the stream")
        vendor.publish_many([_message("m-1", (ANNA, "38.5"))])
        wait_until(lambda: stream.heard() == [(ANNA, 0, "ACTIVE_UNACK")], 60, "the fire")
        assert not _leads(b, "hub-b")  # raised by hub-a, streamed by hub-b
        alert_id = stream.events[0].alert_id
        with httpx.Client(base_url=f"http://127.0.0.1:{port_a}", trust_env=False) as api:
            answer = api.post(
                f"/api/v1/alerts/{alert_id}/ack",
                headers={"Authorization": f"Bearer {token}"},
                json={"note": "on my way"},
            )
        assert answer.status_code == 200, answer.text
        acked = [(ANNA, 0, "ACTIVE_UNACK"), (ANNA, 1, "ACTIVE_ACK")]
        wait_until(lambda: stream.heard() == acked, 60, "the acknowledgement")
        assert (stream.events[1].actor, stream.events[1].note) == ("nurse", "on my way")

        a.kill()
        wait_until(lambda: _leads(b, "hub-b"), timeout=30, what="hub-b to take over")
        vendor.publish_many([_message("m-2", (BENT, "38.9"))])
        after = [*acked, (BENT, 0, "ACTIVE_UNACK")]
        wait_until(lambda: stream.heard() == after, 60, "the next alert, from hub-b")
        assert not stream.ended.is_set()  # the same connection all along
        assert b.stop() == 0
        assert stream.ended.wait(30)
    finally:
        vendor.close()
        stream.close()
        b.stop()
        a.stop()
    assert stream.heard() == after  # each change once
