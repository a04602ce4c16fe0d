"""``hjem alerts check FILE``: validate an alert rules file and summarise it.

A rule on a measure the codes table does not know is an error (exit 1). A rule on a measure
that no edge decoder emits (``edge.decoders.emits``) gets a ``warning:`` line naming the rule
and the measure: only a vendor system publishing that measure itself can raise it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from foundation.errors import CliError

if TYPE_CHECKING:
    from hub.alerts.config import RulesConfig

__all__ = ["register", "unemitted"]


def _decoded() -> frozenset[tuple[str, str]] | None:
    """The codings of every measure (and component) an edge decoder emits; None: unknown."""
    try:
        from edge.decoders.emits import emitted_measures
    except ImportError:
        return None
    from schemas.codes import codes

    table = codes()
    keys = set(emitted_measures())
    for key in list(keys):
        keys.update(table[key].components)
    return frozenset((c.system, c.code) for key in keys for c in table[key].codings)


def unemitted(config: RulesConfig) -> list[tuple[str, str]] | None:
    """``(rule id, measure)`` for each rule watching what no decoder emits; None: unknown."""
    decoded = _decoded()
    if decoded is None:
        return None
    out = []
    for rule in config.rules:
        watch = getattr(rule, "watch", None)
        if watch is not None and not watch.keys() & decoded:
            out.append((rule.id, watch.label()))
    return out


def _check(path: Path) -> int:
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
    silent = unemitted(config)
    if silent is None:
        print(
            "warning: the edge decoders cannot be imported here: measures not checked",
            file=sys.stderr,
        )
    for rule_id, measure in silent or []:
        print(
            f"warning: rule {rule_id!r} watches {measure!r}, which no Hjem decoder emits:"
            " only a vendor system publishing it directly can raise this alert",
            file=sys.stderr,
        )
    if not any(rule.enabled for rule in config.rules):
        print("warning: no enabled rule: a hub refuses to start with this file", file=sys.stderr)
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate a rules file (exit 1 naming each wrong rule; a warning for a rule on"
        " a measure no decoder emits)",
    )
    check.add_argument("file", type=Path, help="TOML rules file, e.g. deploy/alerts.example.toml")
    return lambda args: _check(args.file)
