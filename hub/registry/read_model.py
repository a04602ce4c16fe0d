"""The registry's read model that the alert engine and the status monitor share.

Where each resident, publisher (gateway) and device belongs: home and organisation
(resident -> home -> team -> organisation; a gateway's home from its publisher entry), a
device's room (its registry description, e.g. ``kitchen``, which inactivity rules with
``room`` match) and the residents a clinician put on NEWS2 SpO2 scale 2. Rebuilt from the
registry tables only when the registry changed (``registry_meta.version``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.db import Connection

__all__ = ["Place", "ReadModel"]

Place = tuple[str | None, str | None]
"""(home, organisation)"""


@dataclass
class ReadModel:
    """Read-only look-ups over the registry tables, rebuilt when the registry changes."""

    conn: Connection
    residents: dict[str, Place] = field(default_factory=dict)
    publishers: dict[str, Place] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)
    spo2_scales: dict[str, int] = field(default_factory=dict)
    """Residents a clinician put on NEWS2 SpO2 scale 2 (others are on scale 1)."""
    _version: int = -1

    def refresh(self) -> None:
        """Reload when the registry changed since the last load (one cheap query if not)."""
        version = int(self.conn.execute("SELECT version FROM registry_meta").fetchone()[0])
        if version == self._version:
            return
        org_of_home = dict(
            self.conn.execute(
                "SELECT h.id, t.organisation_id FROM home h LEFT JOIN team t ON t.id = h.team_id"
            ).fetchall()
        )
        self.residents = {
            rid: (home, org_of_home.get(home))
            for rid, home in self.conn.execute("SELECT id, home_id FROM resident")
        }
        self.publishers = {
            pid: (home, org_of_home.get(home))
            for pid, home in self.conn.execute("SELECT id, home_id FROM publisher")
        }
        self.spo2_scales = dict(
            self.conn.execute("SELECT id, spo2_scale FROM resident WHERE spo2_scale != 1")
        )
        self.rooms = {
            did: str(desc).strip().lower()
            for did, desc in self.conn.execute("SELECT id, description FROM device")
            if desc
        }
        self._version = version

    def resident_place(self, resident: str | None) -> Place:
        return self.residents.get(resident, (None, None)) if resident else (None, None)

    def publisher_place(self, publisher: str) -> Place:
        return self.publishers.get(publisher, (None, None))

    def spo2_scale(self, resident: str | None) -> int:
        return self.spo2_scales.get(resident, 1) if resident else 1
