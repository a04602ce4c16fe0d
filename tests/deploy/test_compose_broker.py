"""The compose stack's broker start-up, run outside Docker: the same commands, the same users.

``deploy/compose/docker-compose.yml``'s ``mosquitto`` service runs a shell command as root
(creating ``/run/mosquitto``, handing directories to the ``mosquitto`` user) and then execs
Mosquitto, which drops to ``mosquitto`` before it writes its PID file and reads the key and the
password file. A slip there (``/run/mosquitto`` left to root made Mosquitto 2.0.11 exit with
"Unable to write pid file") only shows when the container starts. Docker cannot run here, so
this test runs that ``command`` — read from the compose file, not copied — as root in a mount
namespace of its own (``unshare --mount``) that gives it the container's file system view:

* ``/run`` is a fresh tmpfs (a new container's empty ``/run``), and ``/etc/mosquitto`` a tmpfs
  holding exactly the compose file's bind mounts (read-only where it says ``:ro``), mounted
  from the sources it names; the named volume ``mosquitto-data`` is a new empty root-owned
  directory mounted at its target (Docker's new volume);
* the ``mosquitto`` user is Debian's (the image's is uid/gid 1883): the installer steps in the
  compose file's header (``make-certs.sh -g 1883``, ``chgrp 1883 hjem.passwd``) are done with
  its group;
* substituted, and why: the mounted ``mosquitto.conf`` is the shipped one with only its two
  ``listener`` lines moved to free ports on 127.0.0.1 (``render_loopback`` with the Debian
  paths; the container has its own network namespace where 1883/8883 are free, this machine
  may not); ``hjem.passwd`` and ``certs/`` are made here by the installer steps, as the
  compose directory ships neither. The image's Mosquitto is Debian's here.

The broker must come up, write its PID file as ``mosquitto`` and accept a TLS client with a
client certificate and password (the hub's login); it is stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from hjem.mosquitto import free_port
from hub.admin.provision import (
    DEPLOY_DIR,
    SHIPPED_CONF,
    LoopbackLayout,
    add_broker_user,
    render_loopback,
)
from tests.support.deploy import MAKE_CERTS, TlsFiles, connect

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(240)]

COMPOSE_DIR = DEPLOY_DIR / "compose"
CONFIG_TARGET = "/etc/mosquitto/mosquitto.conf"
PASSWORD = "compose-hub-password"
DEADLINE_S = 60.0


@dataclass(frozen=True)
class Volume:
    source: str
    """A path relative to the compose directory, or a named volume."""
    target: str
    read_only: bool

    @property
    def named(self) -> bool:
        return not self.source.startswith((".", "/"))


def _service() -> dict[str, Any]:
    doc = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
    service: dict[str, Any] = doc["services"]["mosquitto"]
    return service


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _volumes(service: dict[str, Any]) -> list[Volume]:
    out = []
    for entry in service["volumes"]:
        source, target, *mode = str(entry).split(":")
        out.append(Volume(source, target, mode == ["ro"]))
    return out


def _need_root_and_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (as CI runs): a mount namespace, and Mosquitto dropping to a user")
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no 'mosquitto' user (apt install mosquitto creates it)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.strip()}")


def _installer_files(tmp: Path, tls_port: int, plain_port: int) -> dict[str, Path]:
    """The compose header's installer steps, with Debian's mosquitto group for 1883."""
    certs = tmp / "certs"
    made = subprocess.run(
        ["sh", str(MAKE_CERTS), "-d", str(certs), "-g", "mosquitto", "-H", "localhost", "hub"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    passwd = tmp / "hjem.passwd"
    add_broker_user(passwd, "hub", PASSWORD)
    shutil.chown(passwd, group="mosquitto")
    layout = LoopbackLayout(  # the Debian paths the compose file mounts; only the ports move
        plain_port=plain_port,
        tls_port=tls_port,
        password_file=Path("/etc/mosquitto/hjem.passwd"),
        acl_file=Path("/etc/mosquitto/hjem.acl"),
        persistence_dir=Path("/var/lib/mosquitto"),
        cafile=Path("/etc/mosquitto/certs/ca.crt"),
        certfile=Path("/etc/mosquitto/certs/server.crt"),
        keyfile=Path("/etc/mosquitto/certs/server.key"),
        pid_file=Path("/run/mosquitto/mosquitto.pid"),
        run_as="mosquitto",
    )
    shipped = SHIPPED_CONF.read_text(encoding="utf-8")
    conf = tmp / "mosquitto.conf"
    conf.write_text(render_loopback(shipped, layout), encoding="utf-8")
    changed = set(conf.read_text().splitlines()) ^ set(shipped.splitlines())
    assert all(line.startswith("listener ") for line in changed), changed
    return {"../mosquitto/mosquitto.conf": conf, "./hjem.passwd": passwd, "./certs": certs}


def _mounts(volumes: list[Volume], made: dict[str, Path], tmp: Path) -> str:
    """Shell lines that give the namespace the container's view of the files."""
    lines = [
        "set -e",
        "mount -t tmpfs -o mode=0755 hjem-compose-run /run",
        "mount -t tmpfs -o mode=0755 hjem-compose-etc /etc/mosquitto",
    ]
    for volume in volumes:
        if volume.named:
            source = tmp / volume.source
            source.mkdir(mode=0o755)
            assert Path(volume.target).is_dir(), f"{volume.target} missing (Debian's mosquitto)"
        else:
            assert volume.target.startswith("/etc/mosquitto/"), volume
            source = made.get(volume.source, (COMPOSE_DIR / volume.source).resolve())
            assert source.exists(), f"compose volume {volume.source} has no source here"
            make = "mkdir -p" if source.is_dir() else "touch"
            lines.append(f"mkdir -p {shlex.quote(str(Path(volume.target).parent))}")
            lines.append(f"{make} {shlex.quote(volume.target)}")
        lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(volume.target)}")
        if volume.read_only:
            lines.append(f"mount -o remount,bind,ro {shlex.quote(volume.target)}")
    lines.append('exec "$@"')
    return "\n".join(lines)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)


def _wait_for_tls_login(process: subprocess.Popen[bytes], port: int, certs: Path, log: Path) -> str:
    """Connect as the hub (client certificate + password) until the broker answers or exits."""
    deadline, reason = time.monotonic() + DEADLINE_S, "not tried"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Mosquitto exited ({process.returncode}): {log.read_text()[-800:]}")
        result = connect(
            port, "hub", username="hub", password=PASSWORD, tls=TlsFiles.for_client(certs, "hub")
        )
        if result.client is not None:
            result.client.close()
            return result.reason
        reason = result.reason
        time.sleep(0.2)
    pytest.fail(f"no TLS login after {DEADLINE_S:.0f} s ({reason}): {log.read_text()[-800:]}")


def test_the_compose_broker_starts_as_its_user_and_takes_a_tls_client(tmp_path: Path) -> None:
    _need_root_and_namespaces()
    service = _service()
    command = _command(service)
    assert command[-1].endswith(f"exec mosquitto -c {CONFIG_TARGET}"), command
    tls_port, plain_port = free_port(), free_port()
    made = _installer_files(tmp_path, tls_port, plain_port)
    setup = _mounts(_volumes(service), made, tmp_path)
    log = tmp_path / "mosquitto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                setup,
                "compose",
                *command,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        reason = _wait_for_tls_login(process, tls_port, made["./certs"], log)
        assert reason == "Success"
        # the PID file in the container's /run, seen through the broker's own mount namespace
        run_dir = Path(f"/proc/{process.pid}/root/run/mosquitto")
        assert (run_dir / "mosquitto.pid").read_text().strip() == str(process.pid)
        assert pwd.getpwuid(run_dir.stat().st_uid).pw_name == "mosquitto"
        status = Path(f"/proc/{process.pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) == pwd.getpwnam("mosquitto").pw_uid  # it dropped root
    finally:
        _stop(process)
    assert process.returncode == 0, log.read_text()[-800:]
