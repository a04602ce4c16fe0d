"""The FHIR room's repositories over one hub database, and the request context of the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from foundation.clock import Clock, utcnow
from hub.db import Connection
from hub.fhir.access_log import AccessLog
from hub.fhir.clients import FhirClient, FhirClients
from hub.fhir.consent import Consents

__all__ = ["Caller", "FhirRoom", "RefusalError"]


class FhirRoom:
    """Consents, clients and tokens, and the access log, on one connection."""

    def __init__(self, conn: Connection, clock: Clock = utcnow) -> None:
        self.conn = conn
        self.clock = clock
        self.consents = Consents(conn, clock)
        self.clients = FhirClients(conn, clock)
        self.access_log = AccessLog(conn)


@dataclass(slots=True)
class Caller:
    """An authenticated API request: the client, its scopes, the time, and what it touched
    (filled while serving, recorded in the access log)."""

    client: FhirClient
    scopes: frozenset[str]
    now: datetime
    residents: set[str] = field(default_factory=set)
    returned: int = 0


class RefusalError(Exception):
    """A request the API refuses: HTTP status, FHIR issue type, what went wrong."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        super().__init__(f"{status} {code}: {diagnostics}")
