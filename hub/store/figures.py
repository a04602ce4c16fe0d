"""Reads over the SQLite store's tables for administration (``hjem admin list``)."""

from __future__ import annotations

from hub.db import Connection

__all__ = ["last_seen_by_device"]


def last_seen_by_device(conn: Connection) -> dict[str, int]:
    """Device id -> the newest effective time stored for it (UTC microseconds). Raises
    :class:`sqlite3.OperationalError` when nothing was ever stored in this database."""
    rows = conn.execute(
        "SELECT device_id, MAX(effective_us) FROM observation GROUP BY device_id"
    ).fetchall()
    return {str(device): int(last) for device, last in rows if last is not None}
