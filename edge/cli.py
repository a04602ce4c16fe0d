"""``hjem edge run --config FILE``: run the gateway agent until SIGTERM or Ctrl-C.

Under systemd (``Type=notify``, foundation/sd_notify.py) the agent says ``READY=1`` once it runs
and its publisher is connected to the broker — or after :data:`READY_WAIT_S` without a
broker, since a gateway must record (into its outbox) while the broker is away — and pings
the watchdog from its event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from edge.cli_scan import add_arguments as scan_arguments
from edge.cli_scan import run_scan
from foundation.errors import CliError

__all__ = ["register"]

log = logging.getLogger("hjem.edge")
READY_WAIT_S = 30.0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run the gateway agent", description="run the gateway agent")
    run.add_argument("--config", type=Path, required=True, metavar="FILE", help="TOML config")
    check = sub.add_parser(
        "check-config",
        help="print the effective settings (no password) and every problem",
        description="the effective settings as JSON on stdout; every problem, whether an MQTT"
        " password is set and where from, and notes on stderr; exit 1 on a problem",
    )
    check.add_argument("--config", type=Path, required=True, metavar="FILE")
    scan_arguments(sub.add_parser("scan", help="list the devices in range and their readings"))
    return _handle


def _handle(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.errors import ConfigError, EdgeError

    if args.edge_command == "scan":
        return run_scan(args)
    if args.edge_command == "check-config":
        from edge.check import check_config

        return check_config(args.config)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CliError(f"configuration error: {exc}") from exc
    from foundation.logs import configure_logging

    configure_logging(logging.DEBUG if args.verbose else config.log_level, config.log_format)
    logging.getLogger("hjem.edge.paho").setLevel(logging.WARNING)
    logging.getLogger("bumble").setLevel(logging.WARNING)
    try:
        return _run(config)
    except EdgeError as exc:
        raise CliError(str(exc), code=1) from exc


def _run(config: object) -> int:
    import signal

    from edge.agent import Agent
    from edge.config import EdgeConfig
    from foundation.sd_notify import notify, watchdog_pings

    assert isinstance(config, EdgeConfig)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Agent(config) as agent:
            pings = asyncio.create_task(watchdog_pings(), name="sd-watchdog")
            await _ready(agent.publisher.connected, stop)
            await stop.wait()
            notify("STOPPING=1")
            pings.cancel()
            log.info("stopping (signal received)")

    asyncio.run(main())
    return 0


async def _ready(connected: asyncio.Event, stop: asyncio.Event) -> None:
    """READY=1 once the broker took the connection, or after READY_WAIT_S without it."""
    from foundation.sd_notify import notify

    waits = [asyncio.ensure_future(connected.wait()), asyncio.ensure_future(stop.wait())]
    done, pending = await asyncio.wait(waits, timeout=READY_WAIT_S, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    if waits[0] in done:
        notify("READY=1\nSTATUS=running, connected to the broker")
    else:
        log.warning("no broker after %.0f s; running and buffering in the outbox", READY_WAIT_S)
        notify("READY=1\nSTATUS=running, broker not reachable yet (readings kept in the outbox)")
