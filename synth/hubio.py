"""The hub side: load a cohort's registry into a hub database, read readings back out.

The only module of ``synth`` that imports the hub (lazily): provisioning uses the hub's own
registry (so the device -> publisher binding rules of ``hub.registry.resolver`` hold for
the cohort), broker password file and audit log.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Credentials", "provision", "read_store"]


@dataclass
class Credentials:
    """Broker passwords of the cohort's gateways and vendors, and the vendors' HTTP tokens."""

    passwords: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps({"passwords": self.passwords, "tokens": self.tokens}, indent=1) + "\n",
            encoding="utf-8",
        )
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(dict(data["passwords"]), dict(data.get("tokens", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: not a credentials file of hjem synth provision ({exc})"
            ) from exc


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _load_registry(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the registry file: {exc}") from exc
    for key in (
        "organisations",
        "teams",
        "homes",
        "gateways",
        "vendors",
        "residents",
        "devices",
        "assignments",
        "bindings",
    ):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: registry file lacks the list {key!r}")  # noqa: TRY004
    return data  # type: ignore[no-any-return]


def provision(
    registry_file: Path,
    conn: sqlite3.Connection,
    *,
    password_file: Path | None = None,
    tokens: bool = True,
) -> Credentials:
    """Organisations, teams, homes, gateways, vendors, residents, devices, assignments and
    bindings into the hub database; broker logins (new random passwords) into
    ``password_file`` when given; one audit entry per organisation."""
    from hub.admin.audit import record_admin_action
    from hub.admin.provision import add_broker_user, generate_secret
    from hub.registry.core import Registry

    data = _load_registry(registry_file)
    registry = Registry(conn)
    creds = Credentials()
    for org in data["organisations"]:
        registry.add_organisation(org["id"], org["name"])
    for team in data["teams"]:
        registry.add_team(team["id"], team["organisation"], team["name"])
    for home in data["homes"]:
        registry.add_home(home["id"], home["id"], home["team"])
    for gw in data["gateways"]:
        registry.add_publisher(gw["id"], "gateway", gw["home"])
        creds.passwords[gw["id"]] = generate_secret()
    for vendor in data["vendors"]:
        registry.add_publisher(vendor["id"], "vendor", None)
        creds.passwords[vendor["id"]] = generate_secret()
        if tokens:
            creds.tokens[vendor["id"]] = registry.issue_token(vendor["id"])
    for res in data["residents"]:
        registry.add_resident(res["name"], res["home"], resident_id=res["id"])
    for dev in data["devices"]:
        registry.add_device(dev["id"], dev["description"])
    for a in data["assignments"]:
        registry.assign(a["device"], a["resident"], _time(a["start"]), _time(a["end"]))  # type: ignore[arg-type]
    for b in data["bindings"]:
        registry.bind(b["device"], b["publisher"], _time(b["start"]), _time(b["end"]))  # type: ignore[arg-type]
    if password_file is not None:
        for user, password in creds.passwords.items():
            add_broker_user(password_file, user, password)
    _audit(conn, data, record_admin_action)
    return creds


def _audit(conn: sqlite3.Connection, data: dict[str, list[dict[str, Any]]], record: Any) -> None:
    homes_of: dict[str, int] = {}
    for home in data["homes"]:
        homes_of[home["organisation"]] = homes_of.get(home["organisation"], 0) + 1
    for org in data["organisations"]:
        record(
            conn,
            time=datetime.now(UTC),
            actor=f"cli:{getpass.getuser()}",
            organisation=org["id"],
            action="synth-provision",
            target=org["id"],
            detail={"homes": homes_of.get(org["id"], 0), "source": "hjem synth provision"},
        )


def read_store(database: Path) -> list[tuple[str, str, int, float]]:
    """``(resident, primary code, effective µs, value)`` of every numeric reading with a
    resident in a hub's SQLite store (observation values and compound components)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT resident_id, code, effective_us, value FROM observation"
            " WHERE resident_id IS NOT NULL AND value IS NOT NULL"
            " UNION ALL SELECT resident_id, code, t_us, value FROM sample"
        ).fetchall()
    except sqlite3.Error as exc:
        raise ValueError(f"{database}: not a Hjem hub store ({exc})") from exc
    finally:
        conn.close()
    return [(str(r), str(c), int(t), float(v)) for r, c, t, v in rows]
