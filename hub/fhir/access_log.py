"""The FHIR access log: every ``/fhir`` request and token request, with what it returned.

One row per request: time, client, its organisation, the residents whose data it asked for or
got, the query, the number of resources returned and the HTTP status. A row is filed under the
organisation of each resident it names (``fhir_access_org``) and under the client's, so each
resident's organisation sees who read its residents' data. Both tables are append-only
(SQLite triggers). :func:`audit_event` renders a row as a FHIR R4 ``AuditEvent``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.db import (
    Connection,
    Dialects,
    Orgs,
    append_only,
    from_micros,
    migrate,
    org_filter,
    to_micros,
    transaction,
)
from hub.registry.ownership import organisation_of_resident

__all__ = ["AccessEntry", "AccessLog", "audit_event"]

MIGRATIONS: list[str | Dialects] = [
    (
        "CREATE TABLE fhir_access (seq INTEGER PRIMARY KEY AUTOINCREMENT, time_us INTEGER NOT NULL,"
        " client_id TEXT, organisation TEXT, residents TEXT NOT NULL, method TEXT NOT NULL,"
        " query TEXT NOT NULL, returned INTEGER NOT NULL, status INTEGER NOT NULL,"
        " outcome TEXT NOT NULL DEFAULT '')"
    ),
    (
        "CREATE TABLE fhir_access_org (seq INTEGER NOT NULL REFERENCES fhir_access(seq),"
        " organisation TEXT NOT NULL, PRIMARY KEY (seq, organisation))"
    ),
    "CREATE INDEX fhir_access_org_by_org ON fhir_access_org (organisation, seq)",
    *append_only("fhir_access"),
]


@dataclass(frozen=True, slots=True)
class AccessEntry:
    seq: int
    time: datetime
    client_id: str | None
    organisation: str | None
    residents: tuple[str, ...]
    method: str
    query: str
    returned: int
    status: int
    outcome: str
    """Why a request was refused ('' when it succeeded)."""


_ALL = 1 << 62
"""LIMIT of every row (SQLite's -1 is an error on PostgreSQL)."""


class AccessLog:
    """The ``fhir_access`` tables (migration component ``fhir_access``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        migrate(conn, "fhir_access", MIGRATIONS)

    def record(
        self,
        *,
        time: datetime,
        client_id: str | None,
        organisation: str | None,
        residents: Iterable[str],
        method: str,
        query: str,
        returned: int,
        status: int,
        outcome: str = "",
    ) -> int:
        people = sorted(set(residents))
        orgs = {organisation_of_resident(self._conn, r) for r in people} | {organisation}
        with transaction(self._conn, operation="record FHIR access"):
            cur = self._conn.execute(
                "INSERT INTO fhir_access (time_us, client_id, organisation, residents, method,"
                " query, returned, status, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING seq",
                (
                    to_micros(time),
                    client_id,
                    organisation,
                    json.dumps(people),
                    method,
                    query,
                    returned,
                    status,
                    outcome,
                ),
            )
            seq = int(cur.fetchone()[0])
            self._conn.executemany(
                "INSERT INTO fhir_access_org (seq, organisation) VALUES (?, ?)",
                [(seq, o) for o in sorted(o for o in orgs if o is not None)],
            )
        return seq

    def entries(
        self, organisations: Orgs, *, resident_id: str | None = None, limit: int = 500
    ) -> list[AccessEntry]:
        """Entries filed under any of ``organisations`` (None: all), newest first."""
        where, params = org_filter("g.organisation", organisations)
        rows = self._conn.execute(
            "SELECT seq, time_us, client_id, organisation, residents, method, query, returned,"  # noqa: S608
            " status, outcome FROM fhir_access a WHERE EXISTS (SELECT 1 FROM fhir_access_org g"
            f" WHERE g.seq = a.seq AND {where}) ORDER BY seq DESC LIMIT ?",
            [*params, limit if resident_id is None else _ALL],
        )
        out = [_entry(tuple(row)) for row in rows]
        if resident_id is not None:
            out = [e for e in out if resident_id in e.residents][:limit]
        return out


def _entry(row: tuple[object, ...]) -> AccessEntry:
    seq, time_us, client, org, residents, method, query, returned, status, outcome = row
    return AccessEntry(
        seq=int(str(seq)),
        time=from_micros(int(str(time_us))),
        client_id=None if client is None else str(client),
        organisation=None if org is None else str(org),
        residents=tuple(json.loads(str(residents))),
        method=str(method),
        query=str(query),
        returned=int(str(returned)),
        status=int(str(status)),
        outcome=str(outcome),
    )


_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"


def audit_event(entry: AccessEntry) -> dict[str, object]:
    """The entry as a FHIR R4 ``AuditEvent`` (a RESTful query; outcome 0 or 4/8)."""
    failed = entry.status >= 400
    outcome = "0" if not failed else ("8" if entry.status >= 500 else "4")
    agent: dict[str, object] = {
        "type": {"coding": [{"system": _DCM, "code": "110153", "display": "Source Role ID"}]},
        "requestor": True,
        "who": {"identifier": {"system": "urn:hjem:fhir-client", "value": entry.client_id or "-"}},
    }
    if entry.organisation is not None:
        agent["altId"] = entry.organisation
    event: dict[str, object] = {
        "resourceType": "AuditEvent",
        "id": str(entry.seq),
        "type": {"system": _AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "search-type"}],
        "action": "E" if entry.method == "POST" else "R",
        "recorded": entry.time.isoformat(),
        "outcome": outcome,
        "agent": [agent],
        "source": {"observer": {"display": "Hjem hub FHIR API"}},
        "entity": [
            {
                "what": {"reference": f"Patient/{r}"},
                "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
            for r in entry.residents
        ]
        + [{"query": _b64(entry.query), "detail": [_detail("returned", str(entry.returned))]}],
    }
    if entry.outcome:
        event["outcomeDesc"] = entry.outcome
    return event


def _detail(kind: str, value: str) -> dict[str, str]:
    return {"type": kind, "valueString": value}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
