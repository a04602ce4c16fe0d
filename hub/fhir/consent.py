"""Consent: which recipient organisation may receive which resident's data, why, and when.

A consent names one resident, one recipient organisation (an organisation in the registry:
a hospital, a general practice, another municipality), a purpose (a v3 ActReason code, see
``PURPOSES``) and a half-open period ``[start, end)`` (``end`` None: until revoked). It is
recorded by staff of the resident's organisation (or an operator on the command line), and
revoked by them; a revocation takes effect at once: :meth:`Consents.allows` is asked on every
FHIR request and every push, never cached. Rows are never deleted; every change is audited in
the admin audit log (``hub.admin.audit``), filed under the resident's and the recipient's
organisation.

Public API (stable; the FHIR server and the push exporter build on it)::

    consents = Consents(conn)
    consents.add(resident, recipient_org, purpose, start, end, actor=..., actor_orgs=...)
    consents.revoke(consent_id, actor=..., actor_orgs=...)
    consents.allows(resident, recipient_org, purpose, at) -> bool
    consents.consented_residents(recipient_org, at, purpose=None) -> list[str]
    consents.listing(organisations) / consents.get(consent_id) / consent_resource(consent)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from foundation.clock import Clock, utcnow
from hub.admin.audit import ensure_schema as ensure_audit_schema
from hub.admin.audit import record_admin_action
from hub.db import (
    Connection,
    Dialects,
    Orgs,
    from_micros,
    migrate,
    org_filter,
    to_micros,
    transaction,
)
from hub.fhir.errors import ConsentError
from hub.registry.figures import organisation_ids
from hub.registry.ownership import organisation_of_resident

__all__ = ["PURPOSES", "Consent", "Consents", "consent_resource"]

MIGRATIONS: list[str | Dialects] = [
    (
        "CREATE TABLE fhir_consent (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " resident_id TEXT NOT NULL, organisation TEXT NOT NULL, recipient_org TEXT NOT NULL,"
        " purpose TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER,"
        " recorded_by TEXT NOT NULL, recorded_us INTEGER NOT NULL,"
        " revoked_us INTEGER, revoked_by TEXT,"
        " CHECK (end_us IS NULL OR end_us > start_us))"
    ),
    "CREATE INDEX fhir_consent_recipient ON fhir_consent (recipient_org, resident_id)",
    "CREATE INDEX fhir_consent_organisation ON fhir_consent (organisation, id)",
    Dialects(
        "CREATE TRIGGER fhir_consent_no_delete BEFORE DELETE ON fhir_consent"
        " BEGIN SELECT RAISE(ABORT, 'fhir_consent rows are revoked, never deleted'); END",
        "CREATE OR REPLACE FUNCTION fhir_consent_no_delete() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
        " 'fhir_consent rows are revoked, never deleted' USING ERRCODE = 'restrict_violation';"
        " END $$; CREATE TRIGGER fhir_consent_no_delete BEFORE DELETE ON fhir_consent"
        " FOR EACH ROW EXECUTE FUNCTION fhir_consent_no_delete()",
    ),
]

PURPOSES = {
    "TREAT": "treatment",
    "ETREAT": "emergency treatment",
    "CAREMGT": "care management",
    "PUBHLTH": "public health",
    "HRESCH": "healthcare research",
    "HOPERAT": "healthcare operations",
}
"""Purposes of use (HL7 v3 ActReason, ``http://terminology.hl7.org/CodeSystem/v3-ActReason``)."""
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

_COLUMNS = (
    "id, resident_id, organisation, recipient_org, purpose, start_us, end_us,"
    " recorded_by, recorded_us, revoked_us, revoked_by"
)


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    resident_id: str
    organisation: str
    """The resident's organisation when the consent was recorded (who may revoke it)."""
    recipient_org: str
    purpose: str
    start: datetime
    end: datetime | None
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    def active(self, at: datetime) -> bool:
        """In its period at ``at`` and not revoked by then."""
        return (
            self.start <= at
            and (self.end is None or at < self.end)
            and (self.revoked_at is None or at < self.revoked_at)
        )


def _consent(row: tuple[object, ...]) -> Consent:
    cid, rid, org, recipient, purpose, start, end, by, rec, revoked, revoked_by = row
    return Consent(
        id=int(str(cid)),
        resident_id=str(rid),
        organisation=str(org),
        recipient_org=str(recipient),
        purpose=str(purpose),
        start=from_micros(int(str(start))),
        end=None if end is None else from_micros(int(str(end))),
        recorded_by=str(by),
        recorded_at=from_micros(int(str(rec))),
        revoked_at=None if revoked is None else from_micros(int(str(revoked))),
        revoked_by=None if revoked_by is None else str(revoked_by),
    )


class Consents:
    """The ``fhir_consent`` table (migration component ``fhir_consent``).

    ``actor_orgs`` on a change: the organisations the actor may act for (None: a system
    administrator or the command line); the resident must belong to one of them.
    """

    def __init__(self, conn: Connection, clock: Clock = utcnow) -> None:
        self._conn = conn
        self._clock = clock
        migrate(conn, "fhir_consent", MIGRATIONS)
        ensure_audit_schema(conn)

    def add(
        self,
        resident_id: str,
        recipient_org: str,
        purpose: str,
        start: datetime,
        end: datetime | None,
        *,
        actor: str,
        actor_orgs: Orgs = None,
    ) -> Consent:
        """Record a consent; audited as ``consent_added``."""
        organisation = self._check_resident(resident_id, actor_orgs)
        self._check_terms(resident_id, recipient_org, purpose, start, end)
        now = self._clock()
        with transaction(self._conn, operation="add consent"):
            cur = self._conn.execute(
                "INSERT INTO fhir_consent (resident_id, organisation, recipient_org, purpose,"
                " start_us, end_us, recorded_by, recorded_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    resident_id,
                    organisation,
                    recipient_org,
                    purpose,
                    to_micros(start),
                    None if end is None else to_micros(end),
                    actor,
                    to_micros(now),
                ),
            )
            consent = self._get(int(cur.fetchone()[0]))
            self._audit("consent_added", consent, actor, now)
        return consent

    def revoke(
        self, consent_id: int, *, actor: str, actor_orgs: Orgs = None, at: datetime | None = None
    ) -> Consent:
        """Revoke a consent from ``at`` (default now); audited as ``consent_revoked``."""
        consent = self.get(consent_id)
        if consent is None:
            raise ConsentError(str(consent_id), "no such consent")
        if actor_orgs is not None and consent.organisation not in actor_orgs:
            raise ConsentError(str(consent_id), "belongs to another organisation")
        if consent.revoked_at is not None:
            raise ConsentError(
                str(consent_id), f"already revoked at {consent.revoked_at.isoformat()}"
            )
        moment = at or self._clock()
        with transaction(self._conn, operation="revoke consent"):
            self._conn.execute(
                "UPDATE fhir_consent SET revoked_us = ?, revoked_by = ? WHERE id = ?",
                (to_micros(moment), actor, consent_id),
            )
            revoked = self._get(consent_id)
            self._audit("consent_revoked", revoked, actor, self._clock())
        return revoked

    def allows(self, resident_id: str, recipient_org: str, purpose: str, at: datetime) -> bool:
        """True if a consent for this resident, recipient and purpose is in force at ``at``."""
        micros = to_micros(at)
        row = self._conn.execute(
            "SELECT 1 FROM fhir_consent WHERE resident_id = ? AND recipient_org = ?"
            " AND purpose = ? AND start_us <= ? AND (end_us IS NULL OR end_us > ?)"
            " AND (revoked_us IS NULL OR revoked_us > ?) LIMIT 1",
            (resident_id, recipient_org, purpose, micros, micros, micros),
        ).fetchone()
        return row is not None

    def consented_residents(
        self, recipient_org: str, at: datetime, purpose: str | None = None
    ) -> list[str]:
        """Residents with a consent for ``recipient_org`` in force at ``at`` (any purpose, or
        only ``purpose``), sorted by id."""
        micros = to_micros(at)
        rows = self._conn.execute(
            "SELECT DISTINCT resident_id FROM fhir_consent WHERE recipient_org = ?"
            " AND (? IS NULL OR purpose = ?) AND start_us <= ? AND (end_us IS NULL OR end_us > ?)"
            " AND (revoked_us IS NULL OR revoked_us > ?) ORDER BY resident_id",
            (recipient_org, purpose, purpose, micros, micros, micros),
        )
        return [str(row[0]) for row in rows]

    def get(self, consent_id: int) -> Consent | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM fhir_consent WHERE id = ?",  # noqa: S608 - fixed columns
            (consent_id,),
        ).fetchone()
        return _consent(tuple(row)) if row else None

    def listing(self, organisations: Orgs, resident_id: str | None = None) -> list[Consent]:
        """Consents of residents of ``organisations`` (None: all), or given to them as
        recipient; of one resident if given; newest first."""
        where, params = org_filter("organisation", organisations)
        where_to, params_to = org_filter("recipient_org", organisations)
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM fhir_consent WHERE ({where} OR {where_to})"  # noqa: S608
            " AND (? IS NULL OR resident_id = ?) ORDER BY id DESC",
            [*params, *params_to, resident_id, resident_id],
        )
        return [_consent(tuple(row)) for row in rows]

    # -- checks and audit --------------------------------------------------------------

    def _get(self, consent_id: int) -> Consent:
        consent = self.get(consent_id)
        if consent is None:  # pragma: no cover - read back inside the writing transaction
            raise ConsentError(str(consent_id), "vanished while being written")
        return consent

    def _check_resident(self, resident_id: str, actor_orgs: Orgs) -> str:
        organisation = organisation_of_resident(self._conn, resident_id)
        if organisation is None:
            raise ConsentError(
                resident_id, "no such resident, or the resident's home has no organisation"
            )
        if actor_orgs is not None and organisation not in actor_orgs:
            raise ConsentError(resident_id, "the resident belongs to another organisation")
        return organisation

    def _check_terms(
        self,
        resident_id: str,
        recipient_org: str,
        purpose: str,
        start: datetime,
        end: datetime | None,
    ) -> None:
        if recipient_org not in organisation_ids(self._conn):
            raise ConsentError(
                resident_id, f"recipient organisation {recipient_org!r} is not in the registry"
            )
        if purpose not in PURPOSES:
            raise ConsentError(
                resident_id, f"purpose {purpose!r} is not one of {', '.join(sorted(PURPOSES))}"
            )
        if start.tzinfo is None or (end is not None and end.tzinfo is None):
            raise ConsentError(resident_id, "start and end need a UTC offset")
        if end is not None and end <= start:
            raise ConsentError(resident_id, f"period ends ({end.isoformat()}) before it starts")

    def _audit(self, action: str, consent: Consent, actor: str, now: datetime) -> None:
        record_admin_action(
            self._conn,
            time=now,
            actor=actor,
            organisation=None,
            action=action,
            target=f"Consent/{consent.id}",
            detail={
                "resident": consent.resident_id,
                "recipient": consent.recipient_org,
                "purpose": consent.purpose,
                "start": consent.start.isoformat(),
                "end": None if consent.end is None else consent.end.isoformat(),
                "revoked": None if consent.revoked_at is None else consent.revoked_at.isoformat(),
            },
            affected=(consent.organisation, consent.recipient_org),
        )


def consent_resource(consent: Consent, at: datetime) -> dict[str, object]:
    """The consent as a FHIR R4 ``Consent`` resource (privacy consent, permit)."""
    period: dict[str, str] = {"start": consent.start.isoformat()}
    end = consent.end
    if consent.revoked_at is not None and (end is None or consent.revoked_at < end):
        end = consent.revoked_at
    if end is not None:
        period["end"] = end.isoformat()
    status = "active" if consent.revoked_at is None or at < consent.revoked_at else "inactive"
    return {
        "resourceType": "Consent",
        "id": str(consent.id),
        "status": status,
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{consent.resident_id}"},
        "dateTime": consent.recorded_at.isoformat(),
        "organization": [{"reference": f"Organization/{consent.organisation}"}],
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {"reference": f"Organization/{consent.recipient_org}"},
                }
            ],
            "purpose": [
                {
                    "system": PURPOSE_SYSTEM,
                    "code": consent.purpose,
                    "display": PURPOSES[consent.purpose],
                }
            ],
        },
    }
