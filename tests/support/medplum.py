"""A real FHIR R4 server for the push tests: Medplum's FHIR router (tests/support/fhir_server).

Node runs ``server.mjs``: Medplum's ``FhirRouter`` on its ``MemoryRepository``, every received
resource checked by Medplum's validator against the R4 StructureDefinitions (400 with the
OperationOutcome otherwise), bearer tokens required, a SMART Backend Services token endpoint
at ``/auth/token`` when started with a JWKS. The repository is kept in a JSON file, so a
stopped and restarted server (:meth:`MedplumServer.restart`, same port) still has everything.
The npm packages are installed by ``scripts/test.sh`` (``npm ci`` in that folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

__all__ = ["SERVER_DIR", "MedplumServer", "medplum", "start_medplum"]

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
TOKEN = "medplum-test-token"
START_TIMEOUT_S = 60.0


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: scripts/test.sh installs Debian's nodejs")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(f"Medplum's packages are missing: run 'npm ci' in {SERVER_DIR}")
    return node


@dataclass
class MedplumServer:
    """One server process; ``base`` is the FHIR base URL (``http://127.0.0.1:PORT/fhir``)."""

    workdir: Path
    token: str = TOKEN
    extra: list[str] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/auth/token"

    def start(self) -> None:
        with (self.workdir / "medplum.log").open("ab") as log:
            self.process = self._spawn(log)
        self.port = int(self._ready_line(self.process.stdout)["port"])

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                *(_node(), str(SERVER_DIR / "server.mjs"), "--port", str(self.port)),
                *("--token", self.token, "--data", str(self.workdir / "repository.json")),
                *self.extra,
            ],
            cwd=SERVER_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )

    def _ready_line(self, stdout: IO[bytes] | None) -> dict[str, Any]:
        assert stdout is not None
        assert self.process is not None
        line = stdout.readline()  # the server prints one line once it listens, or exits
        if not line:
            self.process.wait(START_TIMEOUT_S)
            log = (self.workdir / "medplum.log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"the Medplum test server did not start:\n{log[-3000:]}")
        ready: dict[str, Any] = json.loads(line)
        return ready

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(20)
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        """Start again on the same port with the same repository (after :meth:`stop`)."""
        self.stop()
        self.start()

    # -- what the tests read back ------------------------------------------------------------

    def get(self, path: str, **params: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.base}/{path}" if path else self.base,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def count(self, resource_type: str, **params: str) -> int:
        return int(self.get(resource_type, _summary="count", **params)["total"])

    def resources(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        bundle = self.get(resource_type, _count="1000", **params)
        return [entry["resource"] for entry in bundle.get("entry", [])]

    def stats(self) -> dict[str, Any]:
        """Requests, resources received, requests refused (with their OperationOutcomes)."""
        response = httpx.get(
            f"http://127.0.0.1:{self.port}/_test/stats",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def start_medplum(workdir: Path, extra: list[str] | None = None) -> MedplumServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = MedplumServer(workdir, extra=list(extra or []))
    server.start()
    return server


@pytest.fixture
def medplum(tmp_path: Path) -> Iterator[MedplumServer]:
    """A Medplum FHIR server on a free loopback port, stopped by its PID at the end."""
    server = start_medplum(tmp_path / "medplum")
    try:
        yield server
    finally:
        server.stop()
