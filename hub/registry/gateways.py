"""Gateway status from birth, heartbeat and Last Will (``hjem/v1/{publisher}/status``).

A gateway is *online* after a birth or heartbeat, *offline* after its death message (the
MQTT Last Will the broker publishes when the connection drops) or when nothing (status or
data) arrived for ``gateway_timeout_s``. Statuses are applied in arrival order, except that
a retained status older than what is stored is ignored (a stale retained birth must not
undo a newer heartbeat). Every change of ``online`` yields a :class:`GatewayChange` (and,
with ``journal``, a ``gateway_change`` row for the alert engine).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.db import Connection, from_micros, migrate, to_micros
from schemas.models import GatewayStatus, StatusKind

__all__ = ["GatewayChange", "GatewayState", "Gateways"]

MIGRATIONS = [
    (
        "CREATE TABLE gateway_status (publisher TEXT PRIMARY KEY, online INTEGER NOT NULL,"
        " kind TEXT NOT NULL, reported_us INTEGER, last_seen_us INTEGER NOT NULL,"
        " changed_us INTEGER NOT NULL, status_json TEXT)"
    ),
    (
        "CREATE TABLE gateway_change (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " publisher TEXT NOT NULL, online INTEGER NOT NULL, previous_online INTEGER,"
        " kind TEXT NOT NULL, time_us INTEGER NOT NULL, status_json TEXT)"
    ),
]


@dataclass(frozen=True, slots=True)
class GatewayState:
    publisher: str
    online: bool
    kind: str
    """Last status kind: birth, heartbeat, death, or ``timeout`` when the hub gave up."""
    reported: datetime | None
    last_seen: datetime
    changed: datetime
    status: GatewayStatus | None
    """The last status message as reported (health of adapters and devices)."""


@dataclass(frozen=True, slots=True)
class GatewayChange:
    """A gateway went online or offline (``previous_online`` None: first time seen)."""

    publisher: str
    online: bool
    previous_online: bool | None
    kind: str
    time: datetime
    status: GatewayStatus | None


class Gateways:
    """The ``gateway_status`` table; writes join the caller's transaction.

    With ``journal`` (a hub with alerts), every change is also written, in the same
    transaction, to ``gateway_change``: the alert engine's durable input, consumed in the
    order the changes were written by whichever hub node evaluates (:meth:`pending`,
    :meth:`consume`), so a change seen by any node is evaluated once, after a crash too.
    """

    def __init__(self, conn: Connection, *, journal: bool = False) -> None:
        self._conn = conn
        self.journal = journal
        migrate(conn, "gateways", MIGRATIONS)

    def get(self, publisher: str) -> GatewayState | None:
        row = self._conn.execute(
            "SELECT publisher, online, kind, reported_us, last_seen_us, changed_us, status_json"
            " FROM gateway_status WHERE publisher = ?",
            (publisher,),
        ).fetchone()
        return _state(row) if row else None

    def all(self) -> list[GatewayState]:
        rows = self._conn.execute(
            "SELECT publisher, online, kind, reported_us, last_seen_us, changed_us, status_json"
            " FROM gateway_status ORDER BY publisher"
        )
        return [_state(row) for row in rows]

    def counts(self) -> tuple[int, int]:
        """Known gateways (online, offline)."""
        rows = dict(
            self._conn.execute("SELECT online, COUNT(*) FROM gateway_status GROUP BY online")
        )
        return int(rows.get(1, 0)), int(rows.get(0, 0))

    def record(
        self, status: GatewayStatus, received: datetime, *, retained: bool = False
    ) -> GatewayChange | None:
        """Apply one status message; return the change of ``online``, if any."""
        before = self.get(status.publisher)
        if (
            retained
            and before is not None
            and before.reported is not None
            and status.time < before.reported
        ):
            return None
        online = status.kind is not StatusKind.DEATH and status.online
        now_us = to_micros(received)
        changed = before is None or before.online != online
        self._conn.execute(
            "INSERT INTO gateway_status (publisher, online, kind, reported_us, last_seen_us,"
            " changed_us, status_json) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (publisher) DO UPDATE SET online = excluded.online,"
            " kind = excluded.kind, reported_us = excluded.reported_us,"
            " last_seen_us = excluded.last_seen_us, status_json = excluded.status_json,"
            " changed_us = CASE WHEN gateway_status.online != excluded.online"
            " THEN excluded.changed_us ELSE gateway_status.changed_us END",
            (
                status.publisher,
                int(online),
                status.kind.value,
                to_micros(status.time),
                now_us,
                now_us,
                status.model_dump_json(by_alias=True, exclude_none=True),
            ),
        )
        if not changed:
            return None
        change = GatewayChange(
            status.publisher,
            online,
            before.online if before else None,
            status.kind.value,
            received,
            status,
        )
        self._note([change])
        return change

    def touch(self, publishers: Iterable[str], at: datetime) -> list[GatewayChange]:
        """Data arrived from these publishers: they are alive (offline ones come back)."""
        changes: list[GatewayChange] = []
        at_us = to_micros(at)
        for publisher in publishers:
            row = self._conn.execute(
                "UPDATE gateway_status SET last_seen_us = max(last_seen_us, ?) WHERE"
                " publisher = ? RETURNING online, kind",
                (at_us, publisher),
            ).fetchone()
            if row is not None and not row[0] and row[1] == "timeout":
                self._set_online(publisher, online=True, kind="heartbeat", at_us=at_us)
                changes.append(
                    GatewayChange(
                        publisher,
                        online=True,
                        previous_online=False,
                        kind="data",
                        time=at,
                        status=None,
                    )
                )
        self._note(changes)
        return changes

    def expire(self, now: datetime, timeout: timedelta) -> list[GatewayChange]:
        """Mark online gateways silent for longer than ``timeout`` as offline."""
        rows = self._conn.execute(
            "UPDATE gateway_status SET online = 0, kind = 'timeout', changed_us = ?"
            " WHERE online = 1 AND last_seen_us < ? RETURNING publisher",
            (to_micros(now), to_micros(now - timeout)),
        ).fetchall()
        changes = [
            GatewayChange(
                str(r[0]), online=False, previous_online=True, kind="timeout", time=now, status=None
            )
            for r in rows
        ]
        self._note(changes)
        return changes

    def _note(self, changes: list[GatewayChange]) -> None:
        if not self.journal or not changes:
            return
        self._conn.executemany(
            "INSERT INTO gateway_change (publisher, online, previous_online, kind, time_us,"
            " status_json) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    c.publisher,
                    int(c.online),
                    None if c.previous_online is None else int(c.previous_online),
                    c.kind,
                    to_micros(c.time),
                    c.status.model_dump_json(by_alias=True, exclude_none=True)
                    if c.status
                    else None,
                )
                for c in changes
            ],
        )

    def pending(self, limit: int = 100) -> list[tuple[int, GatewayChange]]:
        """Journalled changes not consumed yet, in the order they were written."""
        rows = self._conn.execute(
            "SELECT id, publisher, online, previous_online, kind, time_us, status_json"
            " FROM gateway_change ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            (
                int(i),
                GatewayChange(
                    str(p),
                    bool(on),
                    None if before is None else bool(before),
                    str(kind),
                    from_micros(int(t)),
                    GatewayStatus.model_validate_json(str(js)) if js else None,
                ),
            )
            for i, p, on, before, kind, t, js in rows
        ]

    def consume(self, change_id: int) -> bool:
        """Remove a journalled change (in the evaluating transaction); False: it was gone
        (another node consumed it)."""
        cur = self._conn.execute("DELETE FROM gateway_change WHERE id = ?", (change_id,))
        return cur.rowcount == 1

    def _set_online(self, publisher: str, *, online: bool, kind: str, at_us: int) -> None:
        self._conn.execute(
            "UPDATE gateway_status SET online = ?, kind = ?, changed_us = ? WHERE publisher = ?",
            (int(online), kind, at_us, publisher),
        )


def _state(row: tuple[object, ...]) -> GatewayState:
    publisher, online, kind, reported, seen, changed, status_json = row
    return GatewayState(
        publisher=str(publisher),
        online=bool(online),
        kind=str(kind),
        reported=from_micros(int(str(reported))) if reported is not None else None,
        last_seen=from_micros(int(str(seen))),
        changed=from_micros(int(str(changed))),
        status=GatewayStatus.model_validate(json.loads(str(status_json))) if status_json else None,
    )
