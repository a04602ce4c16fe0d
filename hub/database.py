"""The hub's relational tables as the settings name them, for the hub and its tools alike.

With ``store.kind = "postgresql"`` the registry, users, alerts and every other relational
table live in PostgreSQL beside the observations (:class:`~hub.store.postgresql_conn.PgConnection`)
and no SQLite file is opened or created; otherwise they are in the SQLite file ``database``.
The running hub (:mod:`hub.compose`), ``hjem admin`` and ``hjem hub rejections`` open it here,
so a command reaches the database the hub it configures uses.
"""

from __future__ import annotations

from hub.config import HubSettings
from hub.db import BUSY_TIMEOUT_MS, Connection, open_db

__all__ = ["open_database"]


def open_database(
    settings: HubSettings, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, tuned: bool = False
) -> Connection:
    """The hub database of ``settings`` (migrations are each component's own).

    ``busy_timeout_ms``: how long a SQLite statement waits for another connection's lock;
    ``tuned``: the running hub's ``ingest.sqlite_synchronous`` (tools keep ``full``).
    """
    if settings.store.kind == "postgresql":
        from hub.store.postgresql_conn import PgConnection

        return PgConnection(settings.store.postgresql)
    return open_db(
        settings.database,
        synchronous=settings.ingest.sqlite_synchronous if tuned else "full",
        busy_timeout_ms=busy_timeout_ms,
    )
