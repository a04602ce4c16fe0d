"""``hjem hub run --config FILE``: run the hub until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]


async def _run(config: Path | None) -> int:
    import asyncio
    import logging
    import signal

    from hjem.cli import CliError
    from hub.config import load_settings
    from hub.errors import ConfigError, HubError

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
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Hub(settings) as hub:
            logging.getLogger("hub").info(
                "hub running: store %s, database %s, MQTT %s, HTTP %s",
                settings.store.kind,
                settings.database,
                settings.mqtt.url,
                f"{settings.http.host}:{hub.http_port}" if hub.http_port else "off",
            )
            await stop.wait()
        logging.getLogger("hub").info("hub stopped: stored %d new observations", hub.stored_here)
    except HubError as exc:
        raise CliError(str(exc), code=1) from exc
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="hub_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run ingest, storage and the HTTP API")
    run.add_argument("--config", type=Path, help="TOML configuration file (see docs/hub.md)")

    def handler(args: argparse.Namespace) -> int:
        import asyncio

        return asyncio.run(_run(args.config))

    return handler
