"""``hjem hub check-config`` and ``hjem hub rejections``: what an operator asks a hub.

``check-config`` prints the effective settings (file, then ``HJEM_HUB_...`` environment) as
JSON with every secret masked, and lists **every** problem: each key pydantic refuses (all of
them, not the first), then checks that need the machine — files that do not exist, a
database directory that cannot be written, a rules file without an enabled rule, an InfluxDB
store without a token. Exit 0 when there is none, 1 otherwise.

``rejections`` lists the newest dead letters (refused messages, hub/store/ledger.py) with
their reason class and every error, optionally of one publisher and since a time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from foundation.clock import utcnow
from foundation.settings import SettingsError, broker_file_problems, read_toml, report
from hub.config import HubSettings, load_settings
from hub.errors import ConfigError, HubError

__all__ = ["check_config", "parse_since", "rejections"]

Problem = tuple[str, str]


def check_config(path: Path, out: Callable[[str], None] = print) -> int:
    """Print the effective settings and every problem; 0 without problems, else 1."""
    problems: list[Problem] = []
    settings: HubSettings | None = None
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        problems += exc.problems
    if settings is not None:
        out(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
        problems += machine_problems(settings)
    else:
        problems += _section_problems(path)
    return report(path, problems, out)


def _section_problems(path: Path) -> list[Problem]:
    """Machine checks of the sections that are valid on their own (the whole is not)."""
    try:
        data = read_toml(HubSettings, path)  # relative paths made relative to the file
    except SettingsError:
        return []  # already reported by load_settings
    fields = HubSettings.model_fields
    valid: dict[str, Any] = {}
    for name, value in data.items():
        annotation = fields[name].annotation if name in fields else None
        if annotation is None:
            continue
        try:
            valid[name] = TypeAdapter[Any](annotation).validate_python(value)
        except ValidationError:
            continue
    partial = HubSettings.model_construct(**valid)
    return machine_problems(partial, sections=set(valid))


def machine_problems(settings: HubSettings, sections: set[str] | None = None) -> list[Problem]:
    """Problems no schema can see: missing files, an unwritable database, no rules."""
    wanted = sections if sections is not None else set(HubSettings.model_fields)
    problems: list[Problem] = []
    postgresql = "store" in wanted and settings.store.kind == "postgresql"
    if "database" in wanted and not postgresql:  # no SQLite file with PostgreSQL
        problems += _database_problems(settings.database)
    if "mqtt" in wanted:
        problems += broker_file_problems(settings.mqtt, "mqtt")
    if "mqtt" in wanted and settings.mqtt.username and settings.mqtt.password is None:
        problems.append(
            ("mqtt.password", "username is set but no password (HJEM_HUB_MQTT__PASSWORD)")
        )
    store = settings.store if "store" in wanted else None
    if store is not None and store.kind == "influxdb" and not store.influx.token.get_secret_value():
        problems.append(
            ("store.influx.token", 'empty with kind = "influxdb" (HJEM_HUB_STORE__INFLUX__TOKEN)')
        )
    if "alerts" in wanted:
        problems += _rules_problems(settings)
    return problems


def _database_problems(database: Path) -> list[Problem]:
    if database.exists():
        if not os.access(database, os.R_OK | os.W_OK):
            return [("database", f"{database} is not readable and writable by this user")]
        return []
    parent = database.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        return [("database", f"{database} cannot be created: {parent} is not writable")]
    return []


def _rules_problems(settings: HubSettings) -> list[Problem]:
    from hub.alerts.wiring import load_enabled_rules

    alerts = settings.alerts
    if not alerts.enabled:
        return []
    if alerts.rules_file is not None and not alerts.rules_file.is_file():
        return [("alerts.rules_file", f"{alerts.rules_file} does not exist or is not a file")]
    try:
        load_enabled_rules(alerts)
    except HubError as exc:
        return [("alerts.rules_file", str(exc))]
    return []


_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``2h``, ``7d`` before ``now``, or an ISO 8601 time (UTC when no zone)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a time like 2025-01-31T14:00+01:00 or an age like 2h, 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rejections(
    config: Path,
    *,
    publisher: str | None,
    since: str | None,
    limit: int,
    out: Callable[[str], None] = print,
) -> int:
    """Print the newest dead letters; 0 (also when there is none)."""
    from hub.database import open_database
    from hub.store.ledger import Ledger, reason_of

    settings = load_settings(config)
    start = parse_since(since, utcnow()) if since else None
    conn = open_database(settings)
    try:
        letters = Ledger(conn).dead_letters(publisher, limit, since=start)
    finally:
        conn.close()
    for letter in letters:
        counts = f"{letter.rejected} refused, {letter.accepted} accepted"
        out(
            f"{letter.received.astimezone().isoformat(timespec='seconds')}"
            f"  {letter.publisher or '(none)'}  {reason_of(letter.errors)}"
            f"  {letter.transport} {letter.topic}  message {letter.message_id or '-'}:"
            f" {counts if letter.rejected or letter.accepted else 'whole message refused'}"
        )
        for error in letter.errors:
            out(f"    {error.path}: {error.reason}")
    who = f" of {publisher}" if publisher else ""
    out(f"{len(letters)} rejection{'s' if len(letters) != 1 else ''}{who} (newest first)")
    return 0
