"""``hjem alerts check FILE``: validate an alert rules file and summarise it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]


def _check(path: Path) -> int:
    from hjem.cli import CliError
    from hub.alerts.config import load_rules
    from hub.alerts.errors import RulesConfigError

    try:
        config = load_rules(path)
    except RulesConfigError as exc:
        raise CliError(str(exc), code=1) from exc
    print(f"{path}: {len(config.rules)} rules, {len(config.escalation)} escalation policies")
    for rule in config.rules:
        state = "" if rule.enabled else " (disabled)"
        escalation = f", escalation {rule.escalation}" if rule.escalation else ""
        print(f"  {rule.id}: {rule.kind}, {rule.severity.value}{escalation}{state}")
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a rules file (exit 1 naming each wrong rule)")
    check.add_argument("file", type=Path, help="TOML rules file, e.g. deploy/alerts.example.toml")
    return lambda args: _check(args.file)
