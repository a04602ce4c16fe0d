"""A real VictoriaMetrics server as a child process on 127.0.0.1 (stopped by its PID).

VictoriaMetrics accepts InfluxDB line protocol on ``/api/v2/write`` (what influxdb-client
posts), so the InfluxDB store's write path is exercised against it. It has no Flux: tests read
back through its own export API (``/api/v1/export``), not through the store's queries.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hjem.mosquitto import free_port, wait_for_port

__all__ = ["VictoriaMetrics", "victoria"]


def _binary() -> str | None:
    for candidate in (shutil.which("victoria-metrics"), "/usr/bin/victoria-metrics"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass
class VictoriaMetrics:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flush(self) -> None:
        """Make recent writes searchable now (test-only endpoint of single-node VM)."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).read()

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of the series matching ``match`` (JSON lines from /api/v1/export)."""
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as resp:
            return [json.loads(line) for line in resp.read().decode().splitlines() if line]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    binary = _binary()
    if binary is None:
        pytest.skip("victoria-metrics is not installed (Debian: apt-get install victoria-metrics)")
    port = free_port()
    log = tmp_path / "victoria.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={tmp_path / 'vm-data'}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-loggerLevel=ERROR",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    server = VictoriaMetrics(port, process, log)
    try:
        wait_for_port(port, timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{server.url}/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.05)
        yield server
    finally:
        server.stop()
