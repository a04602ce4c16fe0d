"""The ``hjem`` command. Each part registers its subcommands lazily.

A subcommand module only defines its arguments at import time; its handler imports the
heavy part (bleak, FastAPI, ...) when it runs. So ``hjem decode`` works on a gateway that
installed only ``hjem[edge]``, and a missing extra gives a clear message instead of a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from foundation.errors import CliError
from foundation.version import __version__

__all__ = ["SUBCOMMANDS", "CliError", "main"]

Handler = Callable[[argparse.Namespace], int]

# name -> (module that defines `register(parser) -> Handler`, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "schema": ("schemas.cli", "validate, export and convert messages of the open schema"),
    "edge": ("edge.cli", "run the BLE gateway agent (hjem edge run --config FILE)"),
    "bench": ("hjem.bench", "run the benchmarks and print their figures"),
    "alerts": ("hub.alerts.cli", "check alert rules files"),
    "admin": ("hub.admin.cli", "provision gateways, vendors, users and device assignments"),
    "fl": ("fl.cli", "federated learning: simulate, report, serve, supernode, model, score"),
    "decode": ("edge.cli_decode", "decode a BLE characteristic value or advertisement"),
    "hub": ("hub.admin.hub_cli", "run the hub: MQTT/HTTP ingest, storage, API"),
    "demo": ("hjem.demo", "run broker, hub, dashboard and a virtual home on this machine"),
    "synth": ("synth.cli", "synthetic home-care cohorts, hub streaming, twins and reports"),
}


def _build() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(prog="hjem", description="Hjem home monitoring")
    parser.add_argument("--version", action="version", version=f"hjem {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    handlers: dict[str, Handler] = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = exc.name or str(exc)
            handlers[name] = _missing_extra(name, missing)
            continue
        handlers[name] = module.register(sp)
    return parser, handlers


def _missing_extra(name: str, missing: str) -> Handler:
    def handler(_: argparse.Namespace) -> int:
        raise CliError(
            f"'hjem {name}' needs the package {missing!r}; install the matching extra, "
            "e.g. pip install 'hjem[edge]' or 'hjem[hub]'"
        )

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = _build()
    args = parser.parse_args(argv)
    from foundation.logs import configure_logging, format_from_env

    # hub and edge reconfigure from their settings (log_level, log_format)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, format_from_env())
    try:
        return handlers[args.command](args)
    except CliError as exc:
        print(f"hjem {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
