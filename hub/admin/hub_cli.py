"""``hjem hub run --config FILE``: run the hub until SIGINT or SIGTERM.

Also ``hjem hub check-config --config FILE`` and ``hjem hub rejections --config FILE``
(hub/admin/operator_cli.py). Under systemd (``Type=notify``) the hub says ``READY=1`` once it is
connected to the broker and serving HTTP, and pings the watchdog from its event loop
(foundation/sd_notify.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from foundation.errors import CliError

if TYPE_CHECKING:
    from hub.config import HubSettings
    from hub.service import Hub

__all__ = ["register"]

_E = TypeVar("_E", bound=BaseException)


NO_CONFIG = (
    "--config FILE is required: the hub does not guess its configuration"
    " (start from deploy/hub.example.toml; see docs/hub.md)"
)


async def _run(config: Path | None) -> int:
    import asyncio
    import logging
    import signal

    from foundation.logs import configure_logging
    from foundation.sd_notify import notify, watchdog_pings
    from hub.config import load_settings
    from hub.errors import ConfigError, HubError

    if config is None:
        raise CliError(NO_CONFIG)

    try:
        from hub.service import Hub, tune_gc
    except ImportError as exc:  # a gateway that installed only hjem[edge]
        raise CliError(
            f"'hjem hub' needs the package {exc.name!r}; install it with pip install 'hjem[hub]'"
        ) from exc

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    verbose = logging.getLogger().level == logging.DEBUG  # hjem -v wins over log_level
    configure_logging(logging.DEBUG if verbose else settings.log_level, settings.log_format)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Hub(settings) as hub:
            _log_components(settings, hub)
            logging.getLogger("hub").info(
                "hub running: store %s, database %s, MQTT %s, HTTP %s",
                settings.store.kind,
                _database(settings),
                settings.mqtt.url,
                f"{settings.http.host}:{hub.http_port}" if hub.http_port else "off",
            )
            notify("READY=1")  # connected (subscribed) and serving: Hub.__aenter__ waited
            pings = asyncio.create_task(watchdog_pings(), name="sd-watchdog")
            await stop.wait()
            notify("STOPPING=1")
            pings.cancel()
        logging.getLogger("hub").info("hub stopped: stored %d new observations", hub.stored_here)
    except HubError as exc:
        raise CliError(str(exc), code=1) from exc
    except BaseExceptionGroup as group:  # a task of the hub's TaskGroup failed
        failure = _first(group, HubError)
        if failure is None:
            raise
        raise CliError(str(failure), code=1) from group
    return 0


def _database(settings: HubSettings) -> str:
    """Where the relational tables are: PostgreSQL beside the observations, or the SQLite file."""
    if settings.store.kind == "postgresql":
        return "postgresql (with the observations)"
    return str(settings.database)


def _log_components(settings: HubSettings, hub: Hub) -> None:
    """One start-up line per component (the alert rules' line comes from the alerts wiring)."""
    import logging

    log = logging.getLogger("hub")
    store = settings.store
    where = store.influx.url if store.kind == "influxdb" else str(settings.database)
    if store.kind == "postgresql":  # host:port/database, never the password
        from hub.store.postgresql_db import describe

        where = describe(store.postgresql.dsn.get_secret_value())
    log.info("store: %s at %s (registry and alerts: %s)", store.kind, where, _database(settings))
    mqtt = settings.mqtt
    state = "connected" if hub.mqtt is not None and hub.mqtt.connected else "connecting"
    user = mqtt.username or "anonymous"
    log.info("broker: %s to %s as %s (client id %s)", state, mqtt.url, user, mqtt.client_id)
    http, port = settings.http, hub.http_port
    listening = f"http://{http.host}:{port}" if port else "off ([http] enabled = false)"
    log.info("listeners: dashboard and API %s", listening)


def _first(group: BaseExceptionGroup[BaseException], kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` in a (nested) exception group."""
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first(exc, kind)
            if found is not None:
                return found
    return None


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="hub_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run ingest, storage and the HTTP API")
    run.add_argument("--config", type=Path, help="TOML configuration file (see docs/hub.md)")
    check = sub.add_parser(
        "check-config", help="print the effective settings (secrets masked) and every problem"
    )
    check.add_argument("--config", type=Path, required=True, metavar="FILE")
    rejections = sub.add_parser("rejections", help="list recent refused messages and why")
    rejections.add_argument("--config", type=Path, required=True, metavar="FILE")
    rejections.add_argument("--publisher", metavar="P", help="only this publisher's")
    rejections.add_argument("--since", metavar="T", help="ISO time, or an age: 30m, 2h, 7d")
    rejections.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    return _handle


def _handle(args: argparse.Namespace) -> int:
    import asyncio

    if args.hub_command == "run":
        return asyncio.run(_run(args.config))
    try:
        from hub.admin.operator_cli import check_config, rejections
    except ImportError as exc:  # a gateway that installed only hjem[edge]
        raise CliError(
            f"'hjem hub' needs the package {exc.name!r}; install it with pip install 'hjem[hub]'"
        ) from exc
    from hub.errors import HubError

    try:
        if args.hub_command == "check-config":
            return check_config(args.config)
        return rejections(args.config, publisher=args.publisher, since=args.since, limit=args.limit)
    except (HubError, ValueError) as exc:
        raise CliError(str(exc)) from exc
