"""``hjem demo`` as a user runs it: a subprocess on free ports, signed in over HTTP, stopped
with SIGINT. Every process it started must be gone afterwards."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hjem.demo_home import HOMES
from hjem.mosquitto import free_port
from hub.ingest.payloads import inflate

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]

ALERT_DEADLINE_S = 90.0
EXPECTED_RULES = {"spo2-low", "fever", "pendant-alarm"}  # one per scripted incident


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def read_until(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.seen:
                found = re.search(pattern, line)
                if found:
                    return found
            left = deadline - time.monotonic()
            assert left > 0, f"no line matching {pattern!r}; got:\n" + "\n".join(self.seen)
            try:
                self.seen.append(self.lines.get(timeout=min(left, 1.0)))
            except queue.Empty:
                assert self.process.poll() is None, "demo exited:\n" + "\n".join(self.seen)

    def finish(self) -> tuple[list[str], str]:
        """After the exit: every stdout line, and stderr; closes the pipes."""
        if self.pump is not None:
            self.pump.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return self.seen, stderr


def _pump(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.rstrip("\n"))


def start_demo(workdir: Path, mqtt_port: int, http_port: int, *extra: str) -> DemoProcess:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hjem",
            "demo",
            "--workdir",
            str(workdir),
            "--mqtt-port",
            str(mqtt_port),
            "--http-port",
            str(http_port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as in a terminal
    )
    demo = DemoProcess(process)
    demo.pump = threading.Thread(target=_pump, args=(process.stdout, demo.lines), daemon=True)
    demo.pump.start()
    return demo


def children_of(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def running_demo(tmp_path: Path, demo_ports: tuple[int, int]) -> Iterator[DemoProcess]:
    demo = start_demo(tmp_path / "demo", *demo_ports)
    try:
        yield demo
    finally:
        if demo.process.poll() is None:  # a failed test: stop it, then make sure
            demo.process.send_signal(signal.SIGINT)
            try:
                demo.process.wait(30)
            except subprocess.TimeoutExpired:
                demo.process.kill()
                demo.process.wait()
        if demo.process.stdout is not None and not demo.process.stdout.closed:
            demo.finish()


def sign_in(client: httpx.Client, username: str, password: str) -> None:
    page = client.get("/sign-in")
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]*)"', page.text)
    assert page.status_code == 200
    assert csrf
    reply = client.post(
        "/sign-in", data={"username": username, "password": password, "csrf_token": csrf[1]}
    )
    assert reply.status_code == 303, reply.text


def wait_for_alert_rules(client: httpx.Client, deadline: float) -> set[str]:
    rules: set[str] = set()
    while time.monotonic() < deadline and not rules >= EXPECTED_RULES:
        reply = client.get("/api/v1/alerts")
        assert reply.status_code == 200, reply.text
        rules = {alert["rule"] for alert in reply.json()}
        time.sleep(1.0)
    return rules


def stored_kinds(database: Path) -> tuple[set[str], int, bool]:
    """Device kinds with stored observations, unassigned observations, demo flag on a batch."""
    kind_of = {d.device_id: d.kind for home in HOMES for d in home.devices}
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        devices = {r[0] for r in conn.execute("SELECT DISTINCT device_id FROM observation")}
        unassigned = conn.execute(
            "SELECT COUNT(*) FROM observation WHERE resident_id IS NULL"
        ).fetchone()[0]
        stored, encoding = conn.execute("SELECT payload, encoding FROM message LIMIT 1").fetchone()
    finally:
        conn.close()
    batch = json.loads(inflate(bytes(stored), encoding))
    demo_flag = all(o.get("demo") is True for o in batch["observations"])
    return {kind_of[d] for d in devices if d in kind_of}, int(unassigned), demo_flag


def history_residents(database: Path) -> set[str]:
    """Residents with samples older than 20 hours (the history sent at start)."""
    before_us = int((time.time() - 20 * 3600) * 1_000_000)
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT resident_id FROM observation WHERE effective_us < ? AND value IS NOT NULL"
            " AND resident_id IS NOT NULL UNION SELECT resident_id FROM sample WHERE t_us < ?",
            (before_us, before_us),
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]) for r in rows}


def test_demo_starts_raises_alerts_and_stops_cleanly(
    running_demo: DemoProcess, demo_ports: tuple[int, int], tmp_path: Path
) -> None:
    mqtt_port, http_port = demo_ports
    started = time.monotonic()
    demo = running_demo
    demo.read_until(rf"\[demo\] broker up on mqtt://127\.0\.0\.1:{mqtt_port} ", 60)
    demo.read_until(r"\[demo\] hub up \(PID \d+\)", 90)
    sign = demo.read_until(
        rf"\[demo\] sign in at http://127\.0\.0\.1:{http_port} as (\S+) / (\S+) \(care staff\)", 5
    )
    for home in HOMES:
        demo.read_until(
            rf"\[demo\] edge agent {home.gateway_id} running with {len(home.devices)} virtual", 90
        )
    demo.read_until(r"\[demo\] sent \d+ readings of the last 24 h", 5)
    demo.read_until(r"press Ctrl-C to stop", 10)
    pids = {int(p) for line in demo.seen for p in re.findall(r"PID (\d+)", line)}
    assert len(pids) == 1 + 1 + len(HOMES)  # broker, hub, one agent per home
    assert pids <= children_of(demo.process.pid)

    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as client:
        sign_in(client, sign[1], sign[2])
        rules = wait_for_alert_rules(client, started + ALERT_DEADLINE_S)
        assert rules, "no alert within 90 s of the start"
        assert rules >= EXPECTED_RULES, f"alerts of rules {rules}, expected {EXPECTED_RULES}"
        board = client.get("/board")
        assert board.status_code == 200
        assert any(h.resident_name in board.text for h in HOMES)

    database = tmp_path / "demo" / "hub" / "hub.sqlite3"
    kinds, unassigned, demo_flag = stored_kinds(database)
    assert kinds == {d.kind for home in HOMES for d in home.devices}  # all nine kinds
    assert unassigned == 0  # every device is assigned to its resident
    assert demo_flag
    assert history_residents(database) == {h.resident_id for h in HOMES}  # a day of history

    # Ctrl-C in a terminal: SIGINT to the foreground process group (the demo's own group)
    os.killpg(demo.process.pid, signal.SIGINT)
    assert demo.process.wait(45) == 0
    lines, stderr = demo.finish()
    assert lines[-1].startswith("[demo] stopped"), lines[-3:]
    assert "Traceback" not in stderr, stderr
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "a child of the demo survived it"
    for name in ("hub", *(h.gateway_id for h in HOMES)):
        log = (tmp_path / "demo" / "logs" / f"{name}.log").read_text()
        assert "Traceback" not in log, f"{name}.log:\n{log[-2000:]}"
    assert "hub stopped" in (tmp_path / "demo" / "logs" / "hub.log").read_text()


@pytest.mark.parametrize("which", ["mqtt", "http"])
def test_a_taken_port_fails_at_once_naming_it(tmp_path: Path, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = free_port()
        mqtt_port, http_port = (port, other) if which == "mqtt" else (other, port)
        demo = start_demo(tmp_path / "demo", mqtt_port, http_port)
        try:
            code = demo.process.wait(60)
        finally:
            if demo.process.poll() is None:
                demo.process.kill()
                demo.process.wait()
        lines, stderr = demo.finish()
    assert code != 0
    assert f"port {port} on 127.0.0.1 is already in use" in stderr
    assert f"--{which}-port" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1  # one clear line
    assert not any("broker up" in line for line in lines)
    assert not (tmp_path / "demo").exists()  # nothing was started or written
    assert not children_of(demo.process.pid)


def test_sigterm_while_starting_stops_everything(
    tmp_path: Path, demo_ports: tuple[int, int]
) -> None:
    """SIGTERM as soon as the hub is up (the agents are still starting): a clean stop too."""
    demo = start_demo(tmp_path / "demo", *demo_ports, "--no-history")
    try:
        demo.read_until(r"\[demo\] hub up", 90)
        started = children_of(demo.process.pid)
        assert len(started) == 1 + 1 + len(HOMES)  # broker, hub, agents: all started by now
        demo.process.send_signal(signal.SIGTERM)
        code = demo.process.wait(45)
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()
    lines, stderr = demo.finish()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert lines[-1].startswith("[demo] stopped")
    deadline = time.monotonic() + 5
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in started if alive(p)]
