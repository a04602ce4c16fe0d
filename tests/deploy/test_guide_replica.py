"""docs/deploy.md section 9, run as written: a PostgreSQL primary and its streaming replica
(two clusters on 127.0.0.1, each "machine" with its own /etc, /var/lib and /run), a hub that
stores through the two-host URL of ``hub.env``, the drill (primary stopped, replica promoted,
the hub storing on it) and the old primary rebuilt as a replica of the new one.

Only what the guide's "How this guide is tested" and section 9 name differs from two real
machines: paths under a root per machine, ports, ``sudo -u postgres`` runs as the server's
account, ``systemctl`` drives the cluster with ``pg_ctl``, and the clusters are made with
``initdb`` as Debian's package makes them at installation."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from hjem.mosquitto import Mosquitto, free_port
from hjem.postgres import server_bindir
from tests.hub.helpers import Client, batch, expected_ids, wait_until
from tests.hub.processes import HubProcess, write_config
from tests.support.guide import REPO, Block, GuideShell, blocks, rebase

pytestmark = [pytest.mark.postgresql, pytest.mark.mosquitto, pytest.mark.slow]

GUIDE = REPO / "docs" / "deploy.md"
SECTION = "9."
MAIN = "var/lib/postgresql/15/main"
_ON = re.compile(r"^# on (db-1|db-2)( and on (db-1|db-2))?", re.MULTILINE)


@dataclass
class Machine:
    name: str
    root: Path
    port: int
    shell: GuideShell | None = None

    @property
    def datadir(self) -> Path:
        return self.root / MAIN

    @property
    def sockets(self) -> Path:
        return self.root / "run/postgresql"

    @property
    def log(self) -> Path:
        return self.root / "var/log/postgresql/postgresql-15-main.log"

    def stop(self, account: str) -> None:
        """Stop the cluster if it runs (by its PID file, as ``pg_ctl`` does)."""
        bindir = server_bindir()
        if bindir is not None and (self.datadir / "postmaster.pid").exists():
            ctl = [str(bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-m", "immediate"]
            subprocess.run(
                ["runuser", "-u", account, "--", *ctl, "stop"],
                check=False,
                capture_output=True,
            )


def _stand_ins(machine: Machine, account: str) -> str:
    """``sudo -u postgres`` as the server's account; ``systemctl`` for the one cluster."""
    bindir = server_bindir()
    assert bindir is not None
    ctl = f"runuser -u {account} -- {bindir}/pg_ctl -D {machine.datadir}"
    options = f"-p {machine.port} -k {machine.sockets} -c fsync=off"
    return f"""
sudo() {{
  local user=""
  while [ "${{1-}}" = -E ] || [ "${{1-}}" = -u ]; do
    if [ "$1" = -u ]; then user=$2; shift; fi; shift
  done
  if [ "$user" = postgres ]; then runuser -u {account} -- "$@"; else "$@"; fi
}}
systemctl() {{
  [ "$2" = postgresql@15-main ] || {{ echo "guide test: unit $2 not here" >&2; return 1; }}
  case "$1" in
    start) {ctl} -l {machine.log} -w -o "{options}" start ;;
    stop) if [ -f {machine.datadir}/postmaster.pid ]; then {ctl} -w -m fast stop; fi ;;
    restart) {ctl} -l {machine.log} -w -o "{options}" restart ;;
    *) echo "guide test: systemctl $1 not here" >&2; return 1 ;;
  esac
}}
"""


def _install(machine: Machine, account: str) -> None:
    """What ``apt install postgresql`` leaves: the cluster 15/main, initialised, running."""
    for path in (machine.datadir.parent, machine.sockets, machine.log.parent):
        path.mkdir(parents=True)
        shutil.chown(path, account, account)
    (machine.root / "etc/hjem").mkdir(parents=True)
    bindir = server_bindir()
    assert bindir is not None
    initdb = [str(bindir / "initdb"), "-D", str(machine.datadir), "-U", "postgres"]
    options = ["--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]
    subprocess.run(
        ["runuser", "-u", account, "--", *initdb, *options],
        check=True,
        capture_output=True,
    )
    conf = machine.root / "etc/postgresql/15/main"
    conf.mkdir(parents=True)
    (conf / "pg_hba.conf").symlink_to(machine.datadir / "pg_hba.conf")


def _machine(name: str) -> Machine:
    root = Path(tempfile.mkdtemp(prefix=f"hjem-{name}-"))  # short: socket paths are limited
    root.chmod(0o755)
    return Machine(name, root, free_port())


def _start(machine: Machine, account: str) -> None:
    _install(machine, account)
    env = {"PGHOST": str(machine.sockets), "PGPORT": str(machine.port), "PGCONNECT_TIMEOUT": "5"}
    machine.shell = GuideShell(machine.root, machine.root, env)
    machine.shell.start()
    machine.shell.run(_stand_ins(machine, account), label=f"{machine.name}: stand-ins")
    machine.shell.run("systemctl start postgresql@15-main", label=f"{machine.name}: apt install")


@pytest.fixture
def machines() -> Iterator[dict[str, Machine]]:
    account = "postgres"
    made: dict[str, Machine] = {}
    try:
        for name in ("db-1", "db-2"):
            made[name] = _machine(name)
            _start(made[name], account)
        yield made
    finally:
        for machine in made.values():
            machine.stop(account)
            if machine.shell is not None:
                machine.shell.close()
            shutil.rmtree(machine.root, ignore_errors=True)


def _hosts(machines: dict[str, Machine]) -> dict[str, str]:
    hosts = {"'*'": "'127.0.0.1'", "10.0.0.0/24": "127.0.0.1/32"}
    for name, address in (("db-1", "10.0.0.11"), ("db-2", "10.0.0.12")):
        port = machines[name].port
        hosts |= {
            f"{name}:5432": f"127.0.0.1:{port}",
            f"-h {name} -p 5432": f"-h 127.0.0.1 -p {port}",
        }
        hosts[f"{address}/32"] = "127.0.0.1/32"
    return hosts


def _run(block: Block, machines: dict[str, Machine], hosts: dict[str, str]) -> dict[str, str]:
    found = _ON.search(block.text)
    assert found, f"docs/deploy.md:{block.line}: a section 9 block must say where it runs"
    out = {}
    for name in {found.group(1), found.group(3)} - {None}:
        machine = machines[str(name)]
        assert machine.shell is not None
        text = rebase(block.text, machine.root, hosts)
        out[machine.name] = machine.shell.run(text, label=f"{name}: line {block.line}")
    return out


def _dsn(machines: dict[str, Machine]) -> str:
    env = (machines["db-1"].root / "etc/hjem/hub.env").read_text(encoding="utf-8")
    found = re.search(r"^HJEM_HUB_STORE__POSTGRESQL__DSN=(\S+)$", env, re.MULTILINE)
    assert found, env
    return found.group(1)


def _stored(dsn: str) -> set[str]:
    try:
        with psycopg.connect(dsn) as conn:
            return {str(r[0]) for r in conn.execute("SELECT id FROM observation").fetchall()}
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return set()


def _hub(tmp_path: Path, broker: Mosquitto, dsn: str) -> HubProcess:
    config = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-a")
    text = config.read_text(encoding="utf-8")
    text += f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{dsn}"\n'
    config.write_text(text, encoding="utf-8")
    return HubProcess(config, tmp_path / "hub.log").start(timeout=60)


def _until_streaming(machine: Machine, output: str, block: Block) -> None:
    """The block's last command, the replica's check, again until the replica streams (it
    connects to its primary a moment after it accepts connections)."""
    check = block.text.strip().splitlines()[-1]
    assert "pg_stat_wal_receiver" in check
    assert machine.shell is not None
    wait_until(
        lambda: (
            output.split()[-1:] == ["streaming"]
            or (
                machine.shell is not None
                and machine.shell.run(check, label=f"{machine.name}: again").split()[-1:]
                == ["streaming"]
            )
        ),
        timeout=60,
        what=f"{machine.name} to stream from its primary",
    )


WHERE = [{"db-1"}, {"db-2"}, {"db-1", "db-2"}, {"db-1"}, {"db-2"}, {"db-1"}]
"""Where each of section 9's blocks runs: primary, replica, hub.env, drill (2), rejoin."""


def test_the_two_machine_recipe_runs_as_written(
    machines: dict[str, Machine], broker: Mosquitto, tmp_path: Path
) -> None:
    hosts = _hosts(machines)
    text = GUIDE.read_text(encoding="utf-8")
    runs = [b for b in blocks(text) if b.section.startswith(SECTION) and b.runs and b.lang == "sh"]
    printed = [_run(b, machines, hosts) for b in runs[:3]]
    assert [set(p) for p in printed] == WHERE[:3]
    _until_streaming(machines["db-2"], printed[1]["db-2"], runs[1])
    assert [p.split()[-1] for p in printed[2].values()] == ["f", "f"]  # db-1 takes the writes
    dsn = _dsn(machines)
    hub = _hub(tmp_path, broker, dsn)
    gateway = Client(broker, "gw-1-client")
    try:
        gateway.publish_many([("hjem/v1/gw-1/obs", batch("gw-1", i * 5, 5)) for i in range(4)])
        first = expected_ids("gw-1", 0, 20)
        wait_until(lambda: _stored(dsn) == first, timeout=60, what="readings on db-1")
        drill = [_run(b, machines, hosts) for b in runs[3:5]]
        assert drill[1]["db-2"].split()[-2:] == ["t", "f"]  # promoted; db-2 takes the writes
        more = [("hjem/v1/gw-1/obs", batch("gw-1", 20 + i * 5, 5)) for i in range(4)]
        gateway.publish_many(more)
        every = expected_ids("gw-1", 0, 40)
        wait_until(lambda: _stored(dsn) == every, timeout=120, what="readings on db-2")
        assert hub.stop() == 0
    finally:
        gateway.close()
        hub.stop()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT COUNT(*) FROM observation").fetchone() == (40,)  # each once
    [rejoined] = [_run(b, machines, hosts) for b in runs[5:]]
    _until_streaming(machines["db-1"], rejoined["db-1"], runs[5])
    assert [set(p) for p in [*printed, *drill, rejoined]] == WHERE
