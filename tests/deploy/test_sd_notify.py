"""systemd's notify protocol for ``Type=notify`` and ``WatchdogSec=`` (foundation/sd_notify.py):
a real unix datagram socket as ``$NOTIFY_SOCKET`` for real ``hjem hub run`` and ``hjem edge
run`` processes behind the shipped broker configuration. READY=1 comes once the hub is
connected and serving; WATCHDOG=1 repeats at half of ``$WATCHDOG_USEC``, from the event loop
(a blocked loop sends none)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.sd_notify import notify, watchdog_interval, watchdog_pings
from hjem.mosquitto import free_port
from tests.hub.processes import HJEM, ROOT
from tests.support.deploy import SecureBroker
from tests.support.edge import agent_config_dict, toml_of

WATCHDOG_USEC = 1_000_000  # pings expected every 0.5 s
Message = tuple[float, str]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    try:
        yield sock
    finally:
        sock.close()


def _receive(sock: socket.socket, until: float) -> list[Message]:
    out: list[Message] = []
    while time.monotonic() < until:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        out.append((time.monotonic(), data.decode()))
    return out


def _wait_for(sock: socket.socket, text: str, timeout: float) -> list[Message]:
    seen: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += _receive(sock, min(deadline, time.monotonic() + 0.2))
        if any(text in m for _, m in seen):
            return seen
    raise AssertionError(f"no {text!r} within {timeout} s; got {seen}")


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*HJEM, *args], stdout=out, stderr=out, cwd=ROOT, env=env, start_new_session=True
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


def _env(notify_to: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HJEM_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET=notify_to, WATCHDOG_USEC=str(WATCHDOG_USEC))
    return env


def _assert_watchdog_cadence(messages: list[Message]) -> None:
    pings = [t for t, m in messages if m == "WATCHDOG=1"]
    assert len(pings) >= 4, messages
    gaps = sorted(b - a for a, b in itertools.pairwise(pings))
    median = gaps[len(gaps) // 2]
    assert 0.35 <= median <= 0.75, gaps  # half of WATCHDOG_USEC (0.5 s)


def _hub_config(tmp_path: Path, secure: SecureBroker, http_port: int) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database = "{tmp_path / "hub.sqlite3"}"\n'
        "[mqtt]\n"
        f'url = "mqtt://127.0.0.1:{secure.plain_port}"\n'
        'username = "hub"\n'
        'client_id = "hub"\n'
        "[http]\n"
        f"port = {http_port}\n"
        "[alerts]\n"
        "enabled = false\n"
    )
    return config


def test_hub_ready_after_connected_and_serving_then_watchdog(
    tmp_path: Path, secure: SecureBroker, notify_socket: socket.socket
) -> None:
    port = free_port()
    config = _hub_config(tmp_path, secure, port)
    env = _env(str(tmp_path / "notify.sock"))
    env["HJEM_HUB_MQTT__PASSWORD"] = secure.passwords["hub"]
    log = tmp_path / "hub.log"
    proc = _spawn(["hub", "run", "--config", str(config)], log, env)
    try:
        before = _wait_for(notify_socket, "READY=1", 60)
        text = log.read_text()
        assert "broker: connected" in text, text  # connected before READY
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            assert reply.status == 200  # serving when READY arrives
        assert before[0][1] == "READY=1", before  # nothing before it, no ping either
        messages = _receive(notify_socket, time.monotonic() + 3.0)
        _assert_watchdog_cadence(messages)
        os.kill(proc.pid, signal.SIGTERM)
        assert any(m == "STOPPING=1" for _, m in _wait_for(notify_socket, "STOPPING=1", 20))
        assert proc.wait(20) == 0
    finally:
        _stop(proc)


def test_edge_ready_once_connected_with_abstract_socket(
    tmp_path: Path, secure: SecureBroker
) -> None:
    name = f"hjem-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(0.2)
    data = agent_config_dict(tmp_path, secure.plain_port, gateway_id="gw-a")
    config = tmp_path / "edge.toml"
    config.write_text(toml_of(data))
    env = _env("@" + name)
    env["HJEM_EDGE_MQTT__PASSWORD"] = secure.passwords["gw-a"]
    log = tmp_path / "edge.log"
    proc = _spawn(["edge", "run", "--config", str(config)], log, env)
    try:
        seen = _wait_for(sock, "READY=1", 60)
        ready = next(m for _, m in seen if "READY=1" in m)
        assert "STATUS=running, connected to the broker" in ready
        assert "connected to mqtt://" in log.read_text()
        _assert_watchdog_cadence(_receive(sock, time.monotonic() + 3.0))
        assert _stop(proc) == 0
    finally:
        _stop(proc)
        sock.close()


def test_no_socket_no_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 2.0


@pytest.mark.asyncio
async def test_a_blocked_event_loop_sends_no_pings(
    notify_socket: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    pings = asyncio.create_task(watchdog_pings())
    await asyncio.sleep(0.45)
    blocked_from = time.monotonic()
    time.sleep(1.0)  # the point: a hung loop
    blocked_to = time.monotonic()
    await asyncio.sleep(0.35)
    pings.cancel()
    notify_socket.settimeout(0)
    times: list[float] = []
    while True:
        try:
            notify_socket.recv(64)
        except BlockingIOError:
            break
        times.append(time.monotonic())
    # Datagrams queue up, so count them instead of timing them: 0.8 s of running loop at
    # 0.1 s make about 8 pings; the blocked second would have added about 10 more.
    assert 5 <= len(times) <= 11, (len(times), blocked_to - blocked_from)
