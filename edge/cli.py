"""``hjem edge run --config FILE``: run the gateway agent until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]

log = logging.getLogger("hjem.edge")


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run the gateway agent", description="run the gateway agent")
    run.add_argument("--config", type=Path, required=True, metavar="FILE", help="TOML config")
    check = sub.add_parser("check-config", help="validate a config file and print it")
    check.add_argument("--config", type=Path, required=True, metavar="FILE")
    return _handle


def _handle(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.errors import ConfigError, EdgeError
    from hjem.cli import CliError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CliError(f"configuration error: {exc}") from exc
    if args.edge_command == "check-config":
        print(config.model_dump_json(indent=2, exclude={"mqtt": {"password"}}))
        return 0
    if not args.verbose:
        logging.getLogger().setLevel(config.log_level)
    logging.getLogger("hjem.edge.paho").setLevel(logging.WARNING)
    logging.getLogger("bumble").setLevel(logging.WARNING)
    try:
        return _run(config)
    except EdgeError as exc:
        raise CliError(str(exc), code=1) from exc


def _run(config: object) -> int:
    import asyncio
    import signal

    from edge.agent import Agent
    from edge.config import EdgeConfig

    assert isinstance(config, EdgeConfig)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Agent(config):
            await stop.wait()
            log.info("stopping (signal received)")

    asyncio.run(main())
    return 0
