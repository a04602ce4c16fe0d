"""Stand-ins for the commands of a guide that need the machine itself (see tests.support.guide).

``python -m tests.support.guide_stand_ins COMMAND ARGS...``, with ``GUIDE_ROOT`` (the temporary
root), ``GUIDE_PLAIN_PORT`` and ``GUIDE_TLS_PORT`` (the broker's loopback ports) set:

* ``apt install P...``: checks that each package is installed here and lays out the
  directories Debian's package creates (mosquitto: /etc/mosquitto, /var/lib/mosquitto owned
  by ``mosquitto``);
* ``useradd ... NAME``: records NAME; ``owners`` maps ``-g NAME`` / ``-o NAME`` of ``install``
  to root (the test creates no system users);
* ``python3 -m venv DIR``: DIR/bin/hjem is the checkout's ``hjem``; DIR/bin/pip installs
  nothing (tests/packaging installs the package into a fresh environment);
* ``systemctl``: starts mosquitto as Debian's unit does (``/run/mosquitto`` made and handed
  to ``mosquitto``; the installed mosquitto.conf with ports on loopback and paths under the
  root), and the installed Hjem units from their ExecStartPre/ExecStart/EnvironmentFile lines
  (waiting for ``READY=1`` on a ``NOTIFY_SOCKET``, as for ``Type=notify``); ``reload`` sends
  SIGHUP; ``daemon-reload``, ``edit`` and bluetooth are no-ops;
* ``journalctl -u UNIT``: the last lines of the unit's log;
* ``scp``: nothing (the gateway is this machine).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hjem.mosquitto import BrokerError, wait_for_port
from hub.admin.provision import LoopbackLayout, render_loopback
from tests.support.guide import rebase

ROOT = Path(os.environ.get("GUIDE_ROOT", "/nonexistent"))
STATE = ROOT / "guide"
HJEM = Path(sys.executable).parent / "hjem"


def _log(unit: str) -> Path:
    return STATE / "logs" / f"{unit}.log"


def _pid_file(unit: str) -> Path:
    return STATE / "pids" / unit


def apt(args: list[str]) -> int:
    packages = [a for a in args if not a.startswith("-") and a not in {"install", "update"}]
    for package in packages:
        done = subprocess.run(["dpkg", "-s", package], capture_output=True, check=False)
        state = "installed" if done.returncode == 0 else "NOT installed on this machine"
        print(f"guide test: package {package} {state}")
        if package == "mosquitto" and done.returncode != 0:
            return 1
    if "mosquitto" in packages:
        (ROOT / "etc/mosquitto").mkdir(parents=True, exist_ok=True)
        data = ROOT / "var/lib/mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwnam("mosquitto")
        os.chown(data, user.pw_uid, user.pw_gid)
    return 0


def useradd(args: list[str]) -> int:
    (STATE / "users").parent.mkdir(parents=True, exist_ok=True)
    with (STATE / "users").open("a", encoding="utf-8") as out:
        out.write(args[-1] + "\n")
    print(f"guide test: user {args[-1]} not created (install -o/-g {args[-1]} -> root)")
    return 0


def owners(args: list[str]) -> int:
    users = (
        set((STATE / "users").read_text(encoding="utf-8").split())
        if (STATE / "users").exists()
        else set()
    )
    out = [
        ("root" if prev in {"-g", "-o"} and arg in users else arg)
        for prev, arg in zip(["", *args[:-1]], args, strict=True)
    ]
    print(" ".join(shlex.quote(a) for a in out))
    return 0


def venv(args: list[str]) -> int:
    target = Path(args[-1])
    (target / "bin").mkdir(parents=True, exist_ok=True)
    link = target / "bin" / "hjem"
    if not link.exists():
        link.symlink_to(HJEM)
    pip = target / "bin" / "pip"
    pip.write_text(
        '#!/bin/sh\necho "guide test: pip $* not run (tests/packaging installs the package)"\n',
        encoding="utf-8",
    )
    pip.chmod(0o755)
    return 0


def _running(unit: str) -> int | None:
    try:
        pid = int(_pid_file(unit).read_text(encoding="ascii"))
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _spawn(unit: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    _log(unit).parent.mkdir(parents=True, exist_ok=True)
    _pid_file(unit).parent.mkdir(parents=True, exist_ok=True)
    log = _log(unit).open("ab")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    _pid_file(unit).write_text(str(proc.pid), encoding="ascii")
    return proc


def _start_mosquitto() -> int:
    run_dir = ROOT / "run/mosquitto"  # Debian's unit: ExecStartPre mkdir -m 740; chown mosquitto
    run_dir.mkdir(mode=0o740, parents=True, exist_ok=True)
    shutil.chown(run_dir, user="mosquitto")
    etc = ROOT / "etc/mosquitto"
    layout = LoopbackLayout(
        plain_port=int(os.environ["GUIDE_PLAIN_PORT"]),
        tls_port=int(os.environ["GUIDE_TLS_PORT"]),
        password_file=etc / "hjem.passwd",
        acl_file=etc / "hjem.acl",
        persistence_dir=ROOT / "var/lib/mosquitto",
        cafile=etc / "certs/ca.crt",
        certfile=etc / "certs/server.crt",
        keyfile=etc / "certs/server.key",
        pid_file=run_dir / "mosquitto.pid",
        run_as="mosquitto",
    )
    conf = STATE / "mosquitto.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(render_loopback((etc / "mosquitto.conf").read_text("utf-8"), layout), "utf-8")
    proc = _spawn("mosquitto", ["mosquitto", "-c", str(conf)], dict(os.environ), ROOT)
    with contextlib.suppress(BrokerError):
        wait_for_port(layout.tls_port, timeout=10)
    time.sleep(0.3)  # a broker that cannot read its files exits right after listening
    if proc.poll() is None:
        return 0
    print(_log("mosquitto").read_text("utf-8", errors="replace"), file=sys.stderr)
    return 1


def _unit_lines(unit: str) -> dict[str, list[str]]:
    path = ROOT / "etc/systemd/system" / f"{unit}.service"
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            value = value.strip()
            optional = "-" if value.startswith("-") else ""  # EnvironmentFile=-/etc/...
            found.setdefault(key.strip(), []).append(
                optional + rebase(value[len(optional) :], ROOT, {})
            )
    return found


def _unit_env(lines: dict[str, list[str]]) -> dict[str, str]:
    env = dict(os.environ)
    for name in lines.get("EnvironmentFile", []):
        path = Path(name.removeprefix("-"))
        if not path.exists() and name.startswith("-"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
    return env


def _start_unit(unit: str) -> int:
    lines = _unit_lines(unit)
    env = _unit_env(lines)
    for state in lines.get("StateDirectory", []):
        (ROOT / "var/lib" / state).mkdir(parents=True, exist_ok=True)
    cwd = Path(lines.get("WorkingDirectory", [str(ROOT)])[0])
    for command in lines.get("ExecStartPre", []):
        done = subprocess.run(shlex.split(command), env=env, cwd=cwd, check=False)
        if done.returncode != 0:
            print(f"guide test: {unit}: ExecStartPre failed: {command}", file=sys.stderr)
            return 1
    notify = STATE / f"{unit}.notify"
    notify.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(0.2)
        proc = _spawn(
            unit, shlex.split(lines["ExecStart"][0]), {**env, "NOTIFY_SOCKET": str(notify)}, cwd
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if b"READY=1" in sock.recv(4096):
                    return 0
            except TimeoutError:
                continue
    print(_log(unit).read_text("utf-8", errors="replace")[-4000:], file=sys.stderr)
    print(f"guide test: {unit} did not report READY=1", file=sys.stderr)
    return 1


def systemctl(args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    verb, units = words[0], [u.removesuffix(".service") for u in words[1:]]
    if verb in {"daemon-reload", "edit"} or units == ["bluetooth"]:
        return 0
    status = 0
    for unit in units:
        pid = _running(unit)
        if verb == "reload" and pid:
            os.kill(pid, signal.SIGHUP)
            continue
        if pid and verb in {"restart", "reload"}:
            os.kill(pid, signal.SIGTERM)
            time.sleep(0.5)
        if verb in {"restart", "start", "enable", "reload"} and not _running(unit):
            status |= _start_mosquitto() if unit == "mosquitto" else _start_unit(unit)
    return status


def journalctl(args: list[str]) -> int:
    unit = args[args.index("-u") + 1].removesuffix(".service")
    text = _log(unit).read_text("utf-8", errors="replace") if _log(unit).exists() else ""
    print("\n".join(text.splitlines()[-20:]))
    return 0


def scp(args: list[str]) -> int:
    print(f"guide test: scp {' '.join(args)}: nothing to copy (the gateway is this machine)")
    return 0


COMMANDS = {
    "apt": apt,
    "apt-get": apt,
    "useradd": useradd,
    "owners": owners,
    "venv": venv,
    "systemctl": systemctl,
    "journalctl": journalctl,
    "scp": scp,
}


def main(argv: list[str]) -> int:
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    grp.getgrnam("mosquitto")  # the broker's group must exist (apt install mosquitto)
    sys.exit(main(sys.argv[1:]))
