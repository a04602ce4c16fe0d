"""The real deployment path: a SuperLink and two SuperNodes as processes on 127.0.0.1 with
TLS (certificates from deploy/certs/make-certs.sh) and SuperNode authentication complete a
federated round submitted with ``flwr run``; an unregistered SuperNode is refused."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

pytest.importorskip("flwr")

from fl.deploy import (
    LinkPorts,
    flwr_env,
    make_node_keys,
    register_node,
    submit_run,
    superlink_command,
    supernode_command,
    wait_for_superlink,
)
from fl.model import N_PARAMS
from hjem.mosquitto import free_port
from tests.fl.support import signal_samples

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Procs:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.items: list[subprocess.Popen[bytes]] = []
        self.files: list[IO[bytes]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self.files.append(log)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.logs)
        self.items.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.items:
            p.terminate()
        for p in self.items:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.files:
            f.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    running = Procs(tmp_path)
    yield running
    running.stop()


def _logs(procs: Procs) -> str:
    """The tail of every process's log (SuperLink with its ServerApp, SuperNodes)."""
    tails = [
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in procs.logs.glob("*.log")
    ]
    return "\n".join(tails)


def _wait(path: Path, timeout: float, procs: Procs) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no result after {timeout} s\n{_logs(procs)}")
        time.sleep(0.5)


def test_superlink_and_two_supernodes_with_tls_complete_a_round(
    tmp_path: Path, procs: Procs
) -> None:
    certs = tmp_path / "certs"
    make_certs = ["sh", str(ROOT / "deploy/certs/make-certs.sh"), "-d", str(certs)]
    subprocess.run([*make_certs, "-H", "localhost"], check=True, capture_output=True)
    ports = LinkPorts(http=free_port(), health=free_port())  # fmt: skip
    env = flwr_env(tmp_path / "flwr-home", certs / "ca.crt", ports)
    link = procs.start("superlink", superlink_command(certs, tmp_path, ports), env)
    wait_for_superlink(link, ports)
    keys = tmp_path / "keys"
    for i in range(2):
        private, public = make_node_keys(keys, f"hub-{i}")
        register_node(public, env, f"hub-{i}")
        data = tmp_path / f"hub-{i}.npz"
        signal_samples(i).save(data)
        cmd = supernode_command(
            certs / "ca.crt", ports.address, key=private,
            node_config={"data": str(data), "dp-clip": 1.0, "dp-sigma": 0.1},
            http_port=free_port(),
        )  # fmt: skip
        procs.start(f"supernode-{i}", cmd, env)
    # a SuperNode whose key the coordinator never registered is refused
    stranger, _ = make_node_keys(keys, "stranger")
    cmd = supernode_command(
        certs / "ca.crt", ports.address, key=stranger,
        node_config={"data": str(tmp_path / "hub-0.npz")},
        http_port=free_port(),
    )  # fmt: skip
    outsider = procs.start("stranger", cmd, env)
    out = tmp_path / "result.json"
    submit_run(env, {"rounds": 1, "min-clients": 2, "threshold": 2, "steps": 50,
                     "timeout": 120.0, "out": str(out)})  # fmt: skip
    _wait(out, 600, procs)
    result = json.loads(out.read_text())
    assert result["rounds"][0]["summed"] == 2, f"{result}\n{_logs(procs)}"
    assert len(result["params"]) == N_PARAMS
    # learnt the signal in feature 0 through noise (sigma 0.1 a hub, 0.07 in the average)
    assert result["params"][0] > 0.05, f"{result}\n{_logs(procs)}"
    assert outsider.wait(timeout=30) != 0
    refusal = "No SuperNode found with the given public key"
    assert refusal in (tmp_path / "superlink.log").read_text()
