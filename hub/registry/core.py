"""Organisations, teams, homes, residents, devices, assignments and publishers.

Residents carry a pseudonymous id (``r-`` + 16 hex digits); their name lives only here, in
the hub. The edge never sends personal identifiers: an observation names its device, and
:meth:`Registry.resolve` maps (device, time) to the resident the device was assigned to then.

A device is assigned to one resident at a time, for a half-open range ``[start, end)``;
``end`` None means "until further notice". :meth:`Registry.assign` moves a device: an
open-ended assignment that started earlier is closed at the new start. Overlapping closed
ranges are refused.

A device also belongs to one publisher at a time: the one it is bound to (:meth:`Registry.bind`,
ranges like assignments), or else the gateways of its resident's home. Ingest refuses a
reading from any other publisher (:mod:`hub.registry.resolver`).

Publishers are gateways or vendor systems; vendors that post over HTTP get a bearer token
(32 random bytes). Only its SHA-256 is stored: a random token of that length needs no slow
password hash, and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from foundation.clock import Clock, utcnow
from hub.db import Connection, from_micros, migrate, to_micros, transaction
from hub.errors import RegistryError
from hub.registry.resolver import Snapshot, ranges_of, retired_reason

__all__ = [
    "Assignment",
    "Binding",
    "Home",
    "Publisher",
    "Registry",
    "Resident",
    "hash_token",
]

MIGRATIONS = [
    "CREATE TABLE registry_meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    "INSERT INTO registry_meta (id, version) VALUES (1, 0)",
    "CREATE TABLE organisation (id TEXT PRIMARY KEY, name TEXT NOT NULL)",
    (
        "CREATE TABLE team (id TEXT PRIMARY KEY,"
        " organisation_id TEXT NOT NULL REFERENCES organisation(id), name TEXT NOT NULL)"
    ),
    (
        "CREATE TABLE home (id TEXT PRIMARY KEY, team_id TEXT REFERENCES team(id),"
        " label TEXT NOT NULL DEFAULT '')"
    ),
    (
        "CREATE TABLE resident (id TEXT PRIMARY KEY, home_id TEXT REFERENCES home(id),"
        " name TEXT NOT NULL, created_us INTEGER NOT NULL)"
    ),
    (
        "CREATE TABLE device (id TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',"
        " first_seen_us INTEGER, first_publisher TEXT)"
    ),
    (
        "CREATE TABLE assignment (device_id TEXT NOT NULL REFERENCES device(id),"
        " resident_id TEXT NOT NULL REFERENCES resident(id), start_us INTEGER NOT NULL,"
        " end_us INTEGER, PRIMARY KEY (device_id, start_us),"
        " CHECK (end_us IS NULL OR end_us > start_us))"
    ),
    "CREATE INDEX assignment_resident ON assignment (resident_id, start_us)",
    (
        "CREATE TABLE publisher (id TEXT PRIMARY KEY,"
        " kind TEXT NOT NULL CHECK (kind IN ('gateway', 'vendor')),"
        " home_id TEXT REFERENCES home(id), token_sha256 TEXT,"
        " description TEXT NOT NULL DEFAULT '')"
    ),
    # Version 11: a device belongs to one publisher at a time (see hub.registry.resolver): bound
    # explicitly here (a vendor's devices), or else any gateway of its resident's home.
    (
        "CREATE TABLE device_binding (device_id TEXT NOT NULL REFERENCES device(id),"
        " publisher_id TEXT NOT NULL REFERENCES publisher(id), start_us INTEGER NOT NULL,"
        " end_us INTEGER, PRIMARY KEY (device_id, start_us),"
        " CHECK (end_us IS NULL OR end_us > start_us))"
    ),
    # Version 12: the NEWS2 SpO2 scale a clinician prescribed for the resident (issue 14):
    # 1 (default) or 2 (hypercapnic respiratory failure, target 88-92 %).
    (
        "ALTER TABLE resident ADD COLUMN spo2_scale INTEGER NOT NULL DEFAULT 1"
        " CHECK (spo2_scale IN (1, 2))"
    ),
    # Version 13: a retired publisher (hjem admin retire-gateway, issue 21) keeps its row and
    # history; ingest refuses its readings from then on (hub.registry.resolver).
    "ALTER TABLE publisher ADD COLUMN retired_us INTEGER",
]

PublisherKind = Literal["gateway", "vendor"]


@dataclass(frozen=True, slots=True)
class Home:
    id: str
    team_id: str | None
    label: str


@dataclass(frozen=True, slots=True)
class Resident:
    id: str
    home_id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class Assignment:
    device_id: str
    resident_id: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Binding:
    device_id: str
    publisher_id: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Publisher:
    id: str
    kind: PublisherKind
    home_id: str | None
    has_token: bool
    retired: datetime | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    """The registry tables in the hub database. Not thread-safe: one owner per connection."""

    def __init__(self, conn: Connection, clock: Clock = utcnow) -> None:
        self._conn = conn
        self._clock = clock
        migrate(conn, "registry", MIGRATIONS)
        self._cache_version = -1
        self._snapshot = Snapshot({}, {}, {}, {})
        self._known_devices: set[str] = set()

    # -- changes ---------------------------------------------------------------------------

    def _bump(self) -> None:
        self._conn.execute("UPDATE registry_meta SET version = version + 1 WHERE id = 1")

    def _insert(self, entity: str, key: str, sql: str, params: tuple[object, ...]) -> None:
        try:
            with transaction(self._conn):
                self._conn.execute(sql, params)
                self._bump()
        except sqlite3.IntegrityError as exc:
            raise RegistryError(entity, key, f"cannot add: {exc}") from exc

    def add_organisation(self, org_id: str, name: str) -> None:
        self._insert(
            "organisation",
            org_id,
            "INSERT INTO organisation (id, name) VALUES (?, ?)",
            (org_id, name),
        )

    def add_team(self, team_id: str, organisation_id: str, name: str) -> None:
        self._insert(
            "team",
            team_id,
            "INSERT INTO team (id, organisation_id, name) VALUES (?, ?, ?)",
            (team_id, organisation_id, name),
        )

    def add_home(self, home_id: str, label: str = "", team_id: str | None = None) -> Home:
        self._insert(
            "home",
            home_id,
            "INSERT INTO home (id, team_id, label) VALUES (?, ?, ?)",
            (home_id, team_id, label),
        )
        return Home(home_id, team_id, label)

    def add_resident(
        self, name: str, home_id: str | None = None, *, resident_id: str | None = None
    ) -> Resident:
        """Add a resident; the pseudonymous id is generated unless given."""
        rid = resident_id or f"r-{secrets.token_hex(8)}"
        self._insert(
            "resident",
            rid,
            "INSERT INTO resident (id, home_id, name, created_us) VALUES (?, ?, ?, ?)",
            (rid, home_id, name, to_micros(self._clock())),
        )
        return Resident(rid, home_id, name)

    def set_spo2_scale(self, resident_id: str, scale: int) -> int:
        """Set the resident's NEWS2 SpO2 scale (1 or 2); returns the scale it had.

        Prescribed by a clinician; the callers (``hjem admin set-spo2-scale``, the
        resident's admin page) check the organisation and audit the change."""
        if scale not in (1, 2):
            raise RegistryError("resident", resident_id, f"SpO2 scale must be 1 or 2, not {scale}")
        with transaction(self._conn):
            row = self._conn.execute(
                "SELECT spo2_scale FROM resident WHERE id = ?", (resident_id,)
            ).fetchone()
            if row is None:
                raise RegistryError("resident", resident_id, "no such resident")
            self._conn.execute(
                "UPDATE resident SET spo2_scale = ? WHERE id = ?", (scale, resident_id)
            )
            self._bump()
        return int(row[0])

    def spo2_scale(self, resident_id: str) -> int:
        """The resident's NEWS2 SpO2 scale (1 unless a clinician prescribed 2)."""
        row = self._conn.execute(
            "SELECT spo2_scale FROM resident WHERE id = ?", (resident_id,)
        ).fetchone()
        if row is None:
            raise RegistryError("resident", resident_id, "no such resident")
        return int(row[0])

    def add_device(self, device_id: str, description: str = "") -> None:
        try:
            with transaction(self._conn):
                self._conn.execute(
                    "INSERT INTO device (id, description) VALUES (?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET description = excluded.description",
                    (device_id, description),
                )
                self._bump()
        except sqlite3.IntegrityError as exc:
            raise RegistryError("device", device_id, f"cannot add: {exc}") from exc

    def note_devices(self, seen: dict[str, str], at: datetime) -> list[str]:
        """Record devices first seen in traffic (device id -> publisher); no version bump.

        Runs inside the caller's transaction and returns the devices it wrote: pass them to
        :meth:`devices_noted` once that transaction has committed (a rolled-back one must
        not mark them as known, or they would never be recorded).
        """
        new = [(d, p) for d, p in seen.items() if d not in self._known_devices]
        if new:
            self._conn.executemany(
                "INSERT OR IGNORE INTO device (id, first_seen_us, first_publisher)"
                " VALUES (?, ?, ?)",
                [(d, to_micros(at), p) for d, p in new],
            )
        return [d for d, _ in new]

    def devices_noted(self, devices: list[str]) -> None:
        """Devices whose first-seen rows are committed: not written again."""
        self._known_devices.update(devices)

    def assign(
        self, device_id: str, resident_id: str, start: datetime, end: datetime | None = None
    ) -> Assignment:
        """Assign the device to the resident from ``start`` (to ``end``); see module doc."""
        self._add_range("assignment", "resident_id", device_id, resident_id, start, end)
        return Assignment(device_id, resident_id, start, end)

    def bind(
        self, device_id: str, publisher_id: str, start: datetime, end: datetime | None = None
    ) -> Binding:
        """Bind the device to one publisher from ``start`` (to ``end``): only that publisher's
        readings of it are accepted then (see :mod:`hub.registry.resolver`)."""
        if self.publisher(publisher_id) is None:
            raise RegistryError("binding", device_id, f"unknown publisher {publisher_id!r}")
        self._add_range("device_binding", "publisher_id", device_id, publisher_id, start, end)
        return Binding(device_id, publisher_id, start, end)

    def _add_range(  # noqa: PLR0917 - private; table and column come from the two callers
        self,
        table: Literal["assignment", "device_binding"],
        column: Literal["resident_id", "publisher_id"],
        device_id: str,
        value: str,
        start: datetime,
        end: datetime | None,
    ) -> None:
        """Add a ``[start, end)`` row; an open-ended earlier row is closed at ``start``."""
        entity = "assignment" if table == "assignment" else "binding"
        s_us, e_us = to_micros(start), (to_micros(end) if end else None)
        if e_us is not None and e_us <= s_us:
            raise RegistryError(entity, device_id, "end must lie after start")
        with transaction(self._conn):
            self._conn.execute("INSERT OR IGNORE INTO device (id) VALUES (?)", (device_id,))
            self._conn.execute(
                f"UPDATE {table} SET end_us = ? WHERE device_id = ? AND end_us IS NULL"  # noqa: S608
                " AND start_us < ?",
                (s_us, device_id, s_us),
            )
            clash = self._conn.execute(
                f"SELECT {column}, start_us FROM {table} WHERE device_id = ?"  # noqa: S608
                " AND (end_us IS NULL OR end_us > ?) AND (? IS NULL OR start_us < ?)",
                (device_id, s_us, e_us, e_us),
            ).fetchone()
            if clash:
                raise RegistryError(
                    entity,
                    device_id,
                    f"overlaps the {entity} to {clash[0]} from {from_micros(clash[1]).isoformat()}",
                )
            try:
                self._conn.execute(
                    f"INSERT INTO {table} (device_id, {column}, start_us, end_us)"  # noqa: S608
                    " VALUES (?, ?, ?, ?)",
                    (device_id, value, s_us, e_us),
                )
            except sqlite3.IntegrityError as exc:
                verb = "assign" if entity == "assignment" else "bind"
                raise RegistryError(entity, device_id, f"cannot {verb}: {exc}") from exc
            self._bump()

    def unassign(self, device_id: str, at: datetime) -> None:
        """End the device's open assignment at ``at``."""
        self._end_range("assignment", device_id, at)

    def unbind(self, device_id: str, at: datetime) -> None:
        """End the device's open binding at ``at``."""
        self._end_range("device_binding", device_id, at)

    def _end_range(
        self, table: Literal["assignment", "device_binding"], device_id: str, at: datetime
    ) -> None:
        with transaction(self._conn):
            self._conn.execute(
                f"UPDATE {table} SET end_us = ? WHERE device_id = ? AND end_us IS NULL"  # noqa: S608
                " AND start_us < ?",
                (to_micros(at), device_id, to_micros(at)),
            )
            self._bump()

    def add_publisher(
        self, publisher_id: str, kind: PublisherKind, home_id: str | None = None
    ) -> None:
        self._insert(
            "publisher",
            publisher_id,
            "INSERT INTO publisher (id, kind, home_id) VALUES (?, ?, ?)",
            (publisher_id, kind, home_id),
        )

    def retire_publisher(self, publisher_id: str, at: datetime) -> None:
        """Retire the publisher at ``at``: its row and history stay, its readings are refused
        from now on (whatever their time) and its HTTP token stops working."""
        with transaction(self._conn):
            cur = self._conn.execute(
                "UPDATE publisher SET retired_us = ?, token_sha256 = NULL"
                " WHERE id = ? AND retired_us IS NULL",
                (to_micros(at), publisher_id),
            )
            if cur.rowcount != 1:
                known = self.publisher(publisher_id)
                why = "unknown publisher" if known is None else f"retired at {known.retired}"
                raise RegistryError("publisher", publisher_id, why)
            self._bump()

    def issue_token(self, publisher_id: str) -> str:
        """Create (or replace) the publisher's HTTP bearer token; returned only this once."""
        token = secrets.token_urlsafe(32)
        with transaction(self._conn):
            cur = self._conn.execute(
                "UPDATE publisher SET token_sha256 = ? WHERE id = ? AND retired_us IS NULL",
                (hash_token(token), publisher_id),
            )
            if cur.rowcount != 1:
                raise RegistryError(
                    "publisher", publisher_id, "unknown publisher, or a retired one"
                )
        return token

    # -- look-ups --------------------------------------------------------------------------

    def authenticate(self, token: str) -> str | None:
        """The publisher id whose bearer token this is, or None."""
        digest = hash_token(token)
        for pid, stored in self._conn.execute(
            "SELECT id, token_sha256 FROM publisher WHERE token_sha256 IS NOT NULL"
        ):
            if hmac.compare_digest(str(stored), digest):
                return str(pid)
        return None

    def publisher(self, publisher_id: str) -> Publisher | None:
        row = self._conn.execute(
            "SELECT id, kind, home_id, token_sha256 IS NOT NULL, retired_us FROM publisher"
            " WHERE id = ?",
            (publisher_id,),
        ).fetchone()
        if row is None:
            return None
        retired = from_micros(row[4]) if row[4] is not None else None
        return Publisher(row[0], row[1], row[2], bool(row[3]), retired)

    def residents(self, home_id: str | None = None) -> list[Resident]:
        rows = self._conn.execute(
            "SELECT id, home_id, name FROM resident WHERE ? IS NULL OR home_id = ? ORDER BY id",
            (home_id, home_id),
        )
        return [Resident(*row) for row in rows]

    def homes(self) -> list[Home]:
        return [Home(*row) for row in self._conn.execute("SELECT id, team_id, label FROM home")]

    def assignments(self, device_id: str) -> list[Assignment]:
        rows = self._conn.execute(
            "SELECT device_id, resident_id, start_us, end_us FROM assignment"
            " WHERE device_id = ? ORDER BY start_us",
            (device_id,),
        )
        return [
            Assignment(d, r, from_micros(s), from_micros(e) if e is not None else None)
            for d, r, s, e in rows
        ]

    def devices(self) -> list[str]:
        return [str(r[0]) for r in self._conn.execute("SELECT id FROM device ORDER BY id")]

    def bindings(self, device_id: str) -> list[Binding]:
        rows = self._conn.execute(
            "SELECT device_id, publisher_id, start_us, end_us FROM device_binding"
            " WHERE device_id = ? ORDER BY start_us",
            (device_id,),
        )
        return [
            Binding(d, p, from_micros(s), from_micros(e) if e is not None else None)
            for d, p, s, e in rows
        ]

    def _refresh(self) -> None:
        version = int(self._conn.execute("SELECT version FROM registry_meta").fetchone()[0])
        if version == self._cache_version:
            return
        query = self._conn.execute
        gateways: dict[str, set[str]] = {}
        for publisher, home in query(
            "SELECT id, home_id FROM publisher WHERE kind = 'gateway' AND home_id IS NOT NULL"
            " AND retired_us IS NULL"
        ):
            gateways.setdefault(home, set()).add(publisher)
        self._snapshot = Snapshot(
            ranges_of(
                query(
                    "SELECT device_id, start_us, end_us, resident_id FROM assignment"
                    " ORDER BY start_us"
                ).fetchall()
            ),
            ranges_of(
                query(
                    "SELECT device_id, start_us, end_us, publisher_id FROM device_binding"
                    " ORDER BY start_us"
                ).fetchall()
            ),
            dict(query("SELECT id, home_id FROM resident WHERE home_id IS NOT NULL").fetchall()),
            {home: frozenset(ids) for home, ids in gateways.items()},
            {
                str(pid): retired_reason(str(pid), from_micros(us).isoformat())
                for pid, us in query(
                    "SELECT id, retired_us FROM publisher WHERE retired_us IS NOT NULL"
                )
            },
        )
        self._cache_version = version

    def resolve(self, device_id: str, at: datetime) -> str | None:
        """The resident the device was assigned to at ``at``, or None."""
        self._refresh()
        return self._snapshot.resident(device_id, to_micros(at))

    def resolver(self) -> Snapshot:
        """A snapshot for one ingest group: ``(device, at_us, publisher)`` -> resident or
        REFUSED (one cache check for many look-ups; see :mod:`hub.registry.resolver`)."""
        self._refresh()
        return self._snapshot
