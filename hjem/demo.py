"""``hjem demo``: the whole stack on this machine, the way it runs in production.

1. Mosquitto from the shipped ``deploy/mosquitto/mosquitto.conf`` moved onto 127.0.0.1
   (``hub.admin.provision.render_loopback``; the TLS listener is left out), with the shipped ACL
   and a password file of generated credentials for the hub and each demo gateway;
2. the hub as a child process (``hjem hub run``) with its SQLite store, the dashboard, and
   demo alert rules; its registry is seeded with the synthetic homes (``hjem.demo_home``) and
   a care-staff user and an administrator with generated passwords;
3. one edge agent per home as a child process (``hjem edge run``) on the virtual radio, with
   scripted incidents so that the first alerts appear within a minute.

Ctrl-C (SIGINT) or SIGTERM stops the agents, then the hub, then the broker, each by its PID.
Configuration files and logs stay in the working directory (see ``docs/demo.md``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from foundation.clock import utcnow
from foundation.errors import CliError

if TYPE_CHECKING:
    from hjem.demo_stack import Child, ChildProcesses
    from hjem.mosquitto import Mosquitto

__all__ = ["ADMIN_USER", "CARE_USER", "DemoPlan", "broker_config", "register"]

CARE_USER = "care"
ADMIN_USER = "admin"
_START_TIMEOUT_S = 90.0


PRIVATE_UMASK = 0o077
"""The demo's state (readings, password hashes, broker credentials) is the user's alone:
directories 0700, files 0600."""


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


@dataclass(frozen=True)
class DemoPlan:
    workdir: Path
    mqtt_port: int
    http_port: int
    passwords: dict[str, str] = field(default_factory=dict)  # broker and dashboard users
    history: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database(self) -> Path:
        return self.workdir / "hub" / "hub.sqlite3"


# --- broker ---------------------------------------------------------------------------------


def broker_config(conf_text: str, layout: object) -> str:
    """The shipped configuration on loopback, without its TLS listener (pure).

    The demo's clients all run on this machine; certificates would cost seconds of key
    generation for nothing. Every other line (authentication, ACL, limits) stays as shipped.
    """
    from hub.admin.provision import LoopbackLayout, render_loopback

    assert isinstance(layout, LoopbackLayout)
    lines = render_loopback(conf_text, layout).splitlines()
    tls = f"listener {layout.tls_port} 127.0.0.1"
    start = lines.index(tls)
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n].startswith("listener ")), len(lines)
    )
    kept = [*lines[:start], "# (the TLS listener is left out by hjem demo)", *lines[end:]]
    return "\n".join(kept) + "\n"


def start_broker(plan: DemoPlan) -> Mosquitto:
    from hjem.demo_home import HOMES
    from hjem.mosquitto import Mosquitto
    from hub.admin.provision import SHIPPED_ACL, SHIPPED_CONF, LoopbackLayout, add_broker_user

    root = plan.workdir / "mosquitto"
    (root / "data").mkdir(parents=True, exist_ok=True)
    layout = LoopbackLayout(
        plain_port=plan.mqtt_port,
        tls_port=plan.mqtt_port + 1 if plan.mqtt_port < 65535 else plan.mqtt_port - 1,
        password_file=root / "hjem.passwd",
        acl_file=SHIPPED_ACL,
        persistence_dir=root / "data",
        cafile=root / "unused-ca.crt",
        certfile=root / "unused-server.crt",
        keyfile=root / "unused-server.key",
        pid_file=root / "mosquitto.pid",
    )
    for username in ("hub", *(h.gateway_id for h in HOMES)):
        add_broker_user(layout.password_file, username, plan.passwords[username])
    layout.password_file.chmod(0o600)  # 0640 for a deployed broker's group; the demo's is ours
    text = broker_config(SHIPPED_CONF.read_text(encoding="utf-8"), layout)
    return Mosquitto(
        workdir=root, port=plan.mqtt_port, config_text=text, die_with_parent=True
    ).start()


# --- hub database seed ------------------------------------------------------------------------


def seed_database(plan: DemoPlan) -> bool:
    """Registry rows and the two dashboard users (their passwords reset on every run)."""
    from hjem.demo_home import ORGANISATION, TEAM, seed_registry
    from hub.auth.users import Role, UserStore
    from hub.auth.views import users as staff_accounts
    from hub.db import open_db
    from hub.registry.core import Registry

    plan.database.parent.mkdir(parents=True, exist_ok=True)
    conn = open_db(plan.database, synchronous="normal")
    try:
        # installed a month ago: the day of history sent at start belongs to the residents
        fresh = seed_registry(Registry(conn), utcnow() - timedelta(days=30))
        users = UserStore(conn, utcnow)
        existing = {user.username: user.id for user in staff_accounts(conn, None)}
        for username, role, display in (
            (CARE_USER, Role.CARE_STAFF, "Mette Lund (hjemmepleje)"),
            (ADMIN_USER, Role.ADMIN, "Demo-administrator"),
        ):
            if username in existing:
                users.set_password(existing[username], plan.passwords[username])
            else:
                users.create_user(
                    username,
                    plan.passwords[username],
                    role,
                    ORGANISATION[0],
                    teams=(TEAM[0],),
                    display_name=display,
                )
    finally:
        conn.close()
    return fresh


# --- children ---------------------------------------------------------------------------------


def _hjem(*args: str) -> list[str]:
    return [sys.executable, "-m", "hjem", *args]


def hub_child(plan: DemoPlan) -> Child:
    from hjem.demo_home import RULES_TOML, hub_config_toml
    from hjem.demo_stack import Child

    directory = plan.workdir / "hub"
    rules = directory / "alerts.toml"
    rules.write_text(RULES_TOML, encoding="utf-8")
    config = directory / "hub.toml"
    config.write_text(
        hub_config_toml(plan.database, rules, plan.mqtt_port, plan.http_port), encoding="utf-8"
    )
    return Child(
        "hub",
        _hjem("hub", "run", "--config", str(config)),
        plan.workdir / "logs" / "hub.log",
        {"HJEM_HUB_MQTT__PASSWORD": plan.passwords["hub"]},
    )


def edge_children(plan: DemoPlan) -> list[Child]:
    from hjem.demo_home import HOMES, edge_config_toml
    from hjem.demo_stack import Child

    out = []
    for home in HOMES:
        directory = plan.workdir / home.gateway_id
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "edge.toml"
        config.write_text(
            edge_config_toml(home, plan.mqtt_port, directory / "outbox.sqlite"), encoding="utf-8"
        )
        out.append(
            Child(
                home.gateway_id,
                _hjem("edge", "run", "--config", str(config)),
                plan.workdir / "logs" / f"{home.gateway_id}.log",
                {"HJEM_EDGE_MQTT__PASSWORD": plan.passwords[home.gateway_id]},
            )
        )
    return out


def send_history(plan: DemoPlan) -> int:
    """Publish a day of readings per home as its gateway (``hjem.demo_history``)."""
    from hjem.demo_history import batches, history, publish_history
    from hjem.demo_home import HOMES

    now = utcnow()
    total = 0
    for home in HOMES:
        observations = history(home, now)
        payloads = batches(home.gateway_id, observations, now)
        publish_history(plan.mqtt_port, home.gateway_id, plan.passwords[home.gateway_id], payloads)
        total += len(observations)
    return total


async def run_stack(plan: DemoPlan, children: ChildProcesses) -> None:
    """Start hub and agents (the broker is up), report progress, then run until stopped."""
    import asyncio

    from hjem.demo_home import HOMES
    from hjem.demo_stack import ChildExitedError, PortInUseError

    hub = await children.start(hub_child(plan))
    edges = [await children.start(child) for child in edge_children(plan)]
    try:
        await children.wait_for_http(hub, plan.http_port, "/healthz", _START_TIMEOUT_S)
    except ChildExitedError as exc:  # e.g. the port was taken after the check
        if "address already in use" in str(exc).lower():
            raise PortInUseError(plan.http_port, "dashboard", "--http-port") from exc
        raise
    say(f"hub up (PID {hub.pid}): SQLite store {plan.database}, alert rules hub/alerts.toml")
    say(f"dashboard at {plan.url}")
    say(f"sign in at {plan.url} as {CARE_USER} / {plan.passwords[CARE_USER]} (care staff)")
    say(f"   or as {ADMIN_USER} / {plan.passwords[ADMIN_USER]} (administrator)")
    if plan.history:
        readings = await asyncio.to_thread(send_history, plan)
        say(
            f"sent {readings} readings of the last 24 h from the health devices, as a day's history"
        )
    for home, edge in zip(HOMES, edges, strict=True):
        await children.wait_for_log(edge, f"gateway {home.gateway_id} running", _START_TIMEOUT_S)
        say(
            f"edge agent {home.gateway_id} running with {len(home.devices)} virtual devices "
            f"(PID {edge.pid}; {home.resident_name}, {home.label})"
        )
    incidents = sorted((i.at_s, i.what) for home in HOMES for i in home.incidents)
    say("scripted incidents: " + "; ".join(f"+{at:.0f} s {what}" for at, what in incidents))
    say(f"logs and configuration in {plan.workdir}; press Ctrl-C to stop")
    await children.wait()


async def _main(plan: DemoPlan) -> None:
    import asyncio
    import signal

    from hjem.demo_stack import ChildProcesses

    task = asyncio.current_task()
    assert task is not None
    stopping: list[int] = []

    def on_signal(signum: int) -> None:
        if not stopping:
            say("stopping: edge agents, hub, broker ...")
            task.cancel()
        stopping.append(signum)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    broker = start_broker(plan)
    try:
        say(f"broker up on mqtt://127.0.0.1:{plan.mqtt_port} (PID {broker.process.pid})")  # type: ignore[union-attr]
        async with ChildProcesses() as children:
            await run_stack(plan, children)
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        broker.stop()


def _passwords() -> dict[str, str]:
    from hjem.demo_home import HOMES
    from hub.admin.provision import generate_secret

    names = ("hub", *(h.gateway_id for h in HOMES), CARE_USER, ADMIN_USER)
    return {name: generate_secret(12) for name in names}


def _world() -> str:
    from hjem.demo_home import HOMES

    devices = sum(len(h.devices) for h in HOMES)
    return (
        f"{len(HOMES)} homes, {len(HOMES)} residents, {devices} devices, "
        "a care-staff user and an administrator"
    )


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from hjem.demo_history import HistoryError
    from hjem.demo_stack import DemoError, check_port_free
    from hjem.mosquitto import BrokerError
    from hub.errors import HubError

    if args.mqtt_port == args.http_port:
        raise CliError("--mqtt-port and --http-port must differ")
    try:
        check_port_free(args.mqtt_port, "MQTT broker", "--mqtt-port")
        check_port_free(args.http_port, "dashboard", "--http-port")
    except DemoError as exc:
        raise CliError(str(exc), code=1) from exc
    own_dir = args.workdir is None
    previous_umask = os.umask(PRIVATE_UMASK)  # the broker, hub and agents inherit it
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hjem-demo-")).resolve()
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    plan = DemoPlan(workdir, args.mqtt_port, args.http_port, _passwords(), not args.no_history)
    say(f"working directory {workdir}")
    try:
        if seed_database(plan):
            say(f"registry seeded: {_world()}")
        asyncio.run(_main(plan))
    except (DemoError, BrokerError, HubError, HistoryError) as exc:
        raise CliError(str(exc), code=1) from exc
    finally:
        os.umask(previous_umask)
        if own_dir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    say("stopped" + (f"; data kept in {workdir}" if not own_dir or args.keep else ""))
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "--workdir", help="keep state here, e.g. ./var/demo (default: a new temporary directory)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--no-history", action="store_true", help="do not send a day of earlier readings"
    )
    parser.add_argument("--mqtt-port", type=int, default=1883, help="broker port on 127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8080, help="dashboard port")
    return _run
