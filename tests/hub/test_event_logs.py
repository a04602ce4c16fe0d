"""One log line per significant event, as JSON (``log_format = "json"``), from a real
``hjem hub run`` (and ``hjem edge run``) process: every line parses, every time carries its
zone, and each listed event produces its line with its fields."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto, free_port
from hub.auth import Role, UserStore
from hub.db import open_db
from hub.registry.core import Registry
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.hub.helpers import Client
from tests.hub.processes import HJEM, ROOT
from tests.support.edge import agent_config_dict, toml_of

ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
NURSE_PASSWORD = "korrekt-hest-batteri"
RULES = """
[escalation.fast]
repeat_seconds = 600
steps = [
  { responder = "team:day", ack_deadline_seconds = 0.5 },
  { responder = "team:lead", ack_deadline_seconds = 600 },
]

[[rule]]
id = "fall"
kind = "event"
measure = "fall"
severity = "critical"
escalation = "fast"
"""

Line = dict[str, Any]


def _config(tmp_path: Path, broker: Mosquitto, http_port: int) -> Path:
    (tmp_path / "alerts.toml").write_text(RULES)
    config = tmp_path / "hub.toml"
    config.write_text(
        'database = "hub.sqlite3"\n'
        'log_format = "json"\n'
        "[mqtt]\n"
        f'url = "{broker.url}"\n'
        'client_id = "hub-logs"\n'
        f"[http]\nport = {http_port}\n"
        "[alerts]\n"
        'rules_file = "alerts.toml"\n'
        "tick_seconds = 0.1\n"
        f'webhook_url = "http://127.0.0.1:{free_port()}/nobody"\n'
        'webhook_secret = "s3cret-s3cret"\n'
        "retry_base_seconds = 0.2\n"
    )
    return config


def _seed(database: Path) -> str:
    conn = open_db(database)
    try:
        registry = Registry(conn)
        registry.add_organisation("org-a", "Kommune A")
        registry.add_team("t-a", "org-a", "North")
        registry.add_home("h-1", "Home 1", team_id="t-a")
        registry.add_publisher("gw-1", "gateway", "h-1")
        anna = registry.add_resident("Anna", "h-1")
        registry.add_device("dev-1", "hall")
        registry.assign("dev-1", anna.id, datetime(2020, 1, 1, tzinfo=UTC))
        users = UserStore(conn, utcnow)
        nurse = users.create_user("nurse", NURSE_PASSWORD, Role.CARE_STAFF, "org-a")
        return users.issue_token(nurse.id, "test")
    finally:
        conn.close()


def _status(kind: str) -> bytes:
    return json.dumps(
        {
            "schema": "hjem/1",
            "publisher": "gw-1",
            "kind": kind,
            "online": kind != "death",
            "time": datetime.now(UTC).isoformat(),
        }
    ).encode()


def _fall() -> bytes:
    now = datetime.now(UTC)
    source = Source(publisher="gw-1", device=DeviceInfo(id="dev-1"))
    obs = make_observation("fall", source=source, effective=now, value_code="fall")
    return encode(Batch(message_id="fall-1", publisher="gw-1", sent=now, observations=[obs]))


class JsonLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[Line]:
        text = self.path.read_text(encoding="utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait(self, match: Callable[[Line], bool], what: str, timeout: float = 30) -> Line:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if match(line)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no log line for {what}: {self.path.read_text()[-3000:]}")

    def event(self, name: str, **fields: object) -> Line:
        def match(line: Line) -> bool:
            return line.get("event") == name and all(line.get(k) == v for k, v in fields.items())

        return self.wait(match, f"{name} {fields}")


def _start(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*HJEM, *args],
            stdout=out,
            stderr=out,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise
    return proc.returncode


async def _staff_actions(url: str, token: str, alert_id: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
        acked = await http.post(f"/api/v1/alerts/{alert_id}/ack", headers=headers, json={})
        assert acked.status_code == 200, acked.text
        closed = await http.post(
            f"/api/v1/alerts/{alert_id}/resolve", headers=headers, json={"note": "checked"}
        )
        assert closed.status_code == 200, closed.text
        page = await http.get("/sign-in")
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]*)"', page.text)
        assert csrf is not None
        form = {"username": "nurse", "password": "wrong", "csrf_token": csrf.group(1)}
        assert (await http.post("/sign-in", data=form)).status_code == 401


@pytest.mark.asyncio
@pytest.mark.mosquitto
async def test_hub_logs_each_event_as_one_json_line(tmp_path: Path, broker: Mosquitto) -> None:
    port = free_port()
    config = _config(tmp_path, broker, port)
    token = _seed(tmp_path / "hub.sqlite3")
    log = JsonLog(tmp_path / "hub.log")
    proc = _start(["hub", "run", "--config", str(config)], log.path)
    try:
        log.wait(lambda line: line["message"].startswith("hub running"), "start", 60)
        client = Client(broker, "log-publisher")
        try:
            client.publish("hjem/v1/gw-1/status", _status("birth"))
            client.publish("hjem/v1/gw-1/obs", b"{not json")
            client.publish("hjem/v1/gw-1/obs", _fall())
            opened = log.event("alert_opened", rule="fall", severity="critical")
            log.event("alert_escalated", alert_id=opened["alert_id"], escalation_level=1)
            await _staff_actions(f"http://127.0.0.1:{port}", token, opened["alert_id"])
            client.publish("hjem/v1/gw-1/status", _status("death"))
        finally:
            client.close()
        log.event("gateway_online", publisher="gw-1")
        rejection = log.event("rejection", publisher="gw-1", reason="malformed")
        assert "not valid JSON" in rejection["detail"]
        log.event("alert_acknowledged", alert_id=opened["alert_id"], actor="nurse")
        log.event("alert_closed", alert_id=opened["alert_id"], actor="nurse")
        log.event("sign_in_failed", username="nurse", address="127.0.0.1")
        log.event("notification_failed", alert_id=opened["alert_id"], channel="webhook")
        log.event("gateway_offline", publisher="gw-1")
        assert _stop(proc) == 0
    finally:
        _stop(proc)
    lines = log.lines()  # every line is JSON (json.loads above), the relay's too
    assert {line["logger"] for line in lines} >= {"hub", "hub.events", "hub.mqtt.relay"}
    for line in lines:
        assert ZONED.match(line["time"]), line
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.mosquitto
def test_edge_logs_json_lines_with_zone(tmp_path: Path, broker: Mosquitto) -> None:
    data = agent_config_dict(tmp_path, broker.port, log_format="json", log_level="INFO")
    config = tmp_path / "edge.toml"
    config.write_text(toml_of(data))
    log = JsonLog(tmp_path / "edge.log")
    proc = _start(["edge", "run", "--config", str(config)], log.path)
    try:
        line = log.wait(lambda line: "connected to mqtt://" in line["message"], "connect", 60)
        assert line["logger"] == "hjem.edge.mqtt"
        log.wait(lambda line: line["message"].startswith("gateway gw1 running"), "running")
        assert _stop(proc) == 0
    finally:
        _stop(proc)
    lines = log.lines()
    assert lines
    for line in lines:
        assert ZONED.match(line["time"]), line
