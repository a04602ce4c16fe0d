"""``hjem edge scan [--config FILE] [--seconds N]``: the devices in range, as a table (stdout).

Examples::

    hjem edge scan --seconds 10                          # BlueZ, adapter hci0, no config
    hjem edge scan --config /etc/hjem/edge.toml          # its radio, adapter and devices

A configuration problem exits with status 2, a radio that cannot scan (no BlueZ, no adapter)
with status 1, each with one line naming the cause. The count of devices heard goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from foundation.errors import CliError

if TYPE_CHECKING:
    from edge.config import EdgeConfig

__all__ = ["add_arguments", "run_scan"]

MAX_SECONDS = 3600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("Examples::", 1)[1] if __doc__ else None
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML config (optional)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, metavar="N", help="how long to listen (10)"
    )
    parser.add_argument(
        "--radio", choices=("bluez", "virtual"), help="overrides the config (default: bluez)"
    )
    parser.add_argument("--adapter", metavar="hciN", help="default: the config's first, or hci0")


def _config(args: argparse.Namespace) -> EdgeConfig:
    from edge.config import load_config, parse_config
    from edge.errors import ConfigError

    try:
        if args.config is not None:
            config = load_config(args.config)
        else:  # the radio choice alone (HJEM_EDGE_RADIO applies as for the agent)
            config = parse_config({"gateway_id": "scan"}, "hjem edge scan")
    except ConfigError as exc:
        raise CliError(f"configuration error: {exc}") from exc
    if args.radio is not None:
        config = config.model_copy(update={"radio": args.radio})
    if config.radio == "virtual" and not config.devices:
        raise CliError(
            "the virtual radio simulates the [[devices]] of a config file: give --config FILE"
        )
    return config


def run_scan(args: argparse.Namespace) -> int:
    """Scan, print the table; a radio that cannot scan -> one line, exit status 1."""
    import asyncio

    from edge.errors import EdgeError
    from edge.scan import Survey, listening, rows, table

    if not 0 < args.seconds <= MAX_SECONDS:
        raise CliError(f"--seconds must be more than 0 and at most 3600, got {args.seconds:g}")
    config = _config(args)
    if not args.verbose:  # the table says it all; the scanner's "scanning (active)" is noise
        logging.getLogger("hjem.edge.scan").setLevel(logging.WARNING)
    adapter = args.adapter or config.scan.adapters[0]

    async def scan() -> Survey:
        async with listening(config, adapter) as survey:
            await asyncio.sleep(args.seconds)
        return survey

    try:
        survey = asyncio.run(scan())
    except EdgeError as exc:
        raise CliError(str(exc), code=1) from exc
    print(table(rows(survey, {d.address: d for d in config.devices})), flush=True)
    print(
        f"{len(survey.heard)} devices heard in {args.seconds:g} s on {adapter} ({config.radio})",
        file=sys.stderr,
    )
    return 0
