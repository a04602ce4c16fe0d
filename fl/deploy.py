"""Running the federation for real: a SuperLink at the coordinator, a SuperNode per hub.

Transport is TLS (certificates from ``deploy/certs/make-certs.sh``: the CA signs the
SuperLink's server certificate; hubs trust that CA) and SuperNodes authenticate with their
own ECDSA P-384 key pair: the coordinator registers each hub's public key (``flwr supernode
register``) and the SuperLink (``--enable-supernode-auth``) refuses any node it does not know.
The Flower App in ``fl/flwr_app`` is submitted with ``flwr run``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "APP_DIR",
    "LinkPorts",
    "flwr_env",
    "make_node_keys",
    "register_node",
    "submit_run",
    "superlink_command",
    "supernode_command",
    "wait_for_superlink",
]

APP_DIR = Path(__file__).resolve().parent / "flwr_app"
CONNECTION = "hjem"


@dataclass(frozen=True)
class LinkPorts:
    """The SuperLink's addresses: one HTTPS port on ``host`` serves the Fleet API
    (SuperNodes), the Control API (``flwr``) and the runtime API (its ServerApp process);
    and a gRPC health port."""

    host: str = "127.0.0.1"
    http: int = 9093
    health: int = 9095

    @property
    def address(self) -> str:
        return f"{self.host}:{self.http}"


def _bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def wait_for_superlink(
    link: subprocess.Popen[bytes], ports: LinkPorts, timeout: float = 120.0
) -> None:
    """Return once the SuperLink ``link`` accepts connections on its port (seconds, far
    longer on a loaded machine); raise if it ends first or is not up after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if link.poll() is not None:
            raise RuntimeError(f"the SuperLink ended at once (exit {link.returncode})")
        try:
            with socket.create_connection((ports.host, ports.http), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the SuperLink does not listen on {ports.address} after {timeout:.0f} s")


def make_node_keys(directory: Path, name: str) -> tuple[Path, Path]:
    """An ECDSA P-384 key pair in OpenSSH format for SuperNode authentication (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = directory / f"{name}.key"
    public = directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b"\n"
    )
    return private, public


def superlink_command(certs: Path, state: Path, ports: LinkPorts) -> list[str]:
    """``flower-superlink`` with TLS, SuperNode authentication and its state in ``state``."""
    h = ports.host
    return [
        _bin("flower-superlink"),
        "--ssl-ca-certfile", str(certs / "ca.crt"),
        "--ssl-certfile", str(certs / "server.crt"),
        "--ssl-keyfile", str(certs / "server.key"),
        "--enable-supernode-auth",
        "--database", str(state / "superlink.db"),
        "--health-server-address", f"{h}:{ports.health}",
        "--host", h, "--port", str(ports.http),
    ]  # fmt: skip


def supernode_command(
    ca: Path,
    superlink: str,
    *,
    key: Path,
    node_config: dict[str, str | float],
    http_port: int,
) -> list[str]:
    """``flower-supernode`` for one hub: trusts ``ca``, signs in with ``key`` (``.key`` and
    ``.pub`` beside it), and tells its ClientApp where its data and DP settings are."""
    config = " ".join(
        f'{k}="{v}"' if isinstance(v, str) else f"{k}={v}" for k, v in node_config.items()
    )
    host = "127.0.0.1"
    return [
        _bin("flower-supernode"),
        "--root-certificates", str(ca),
        "--superlink", superlink,
        "--auth-supernode-private-key", str(key),
        "--auth-supernode-public-key", str(key.with_suffix(".pub")),
        "--node-config", config,
        "--host", host, "--port", str(http_port),
        "--max-retries", "0",
    ]  # fmt: skip


def flwr_env(home: Path, ca: Path, ports: LinkPorts) -> dict[str, str]:
    """Environment for the ``flwr`` CLI: a Flower home whose default connection is this
    SuperLink's Control API over TLS."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
        f'address = "{ports.address}"\nroot-certificates = "{ca}"\n'
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "FLWR_HOME": str(home), "PATH": path}


def register_node(public_key: Path, env: dict[str, str], name: str) -> None:
    """Register a hub's SuperNode public key with the SuperLink."""
    cmd = [_bin("flwr"), "supernode", "register", str(public_key), CONNECTION, "--name", name]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"registering {public_key} failed: {proc.stdout}{proc.stderr}")


def submit_run(env: dict[str, str], run_config: dict[str, str | float | int]) -> str:
    """Submit the Flower App with ``flwr run`` (returns its output once the run is queued)."""
    overrides = " ".join(
        f'{k}="{v}"' if isinstance(v, str) else f"{k}={v}" for k, v in run_config.items()
    )
    cmd = [_bin("flwr"), "run", str(APP_DIR), CONNECTION, "--run-config", overrides]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"flwr run failed: {proc.stdout}{proc.stderr}")
    return proc.stdout
