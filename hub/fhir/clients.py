"""FHIR clients (SMART Backend Services), the assertion ids they used, and access tokens.

A client is registered by an operator (``hjem admin add-fhir-client NAME --organisation ORG
--jwks FILE``): its ``client_id`` is NAME, it acts for one organisation of the registry and
for one purpose of use (a consent must name both), and its public keys are the JWKS given
(RSA or EC keys; only public parts are kept, a private key is refused). Every ``jti`` a
client used is kept until its assertion expires, so an assertion is accepted once. Access
tokens are 32 random bytes; only their SHA-256 is stored, with the client, the granted scopes
and the expiry, and every ``/fhir`` request looks them up.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from foundation.clock import Clock, utcnow
from hub.admin.audit import ensure_schema as ensure_audit_schema
from hub.admin.audit import record_admin_action
from hub.db import Connection, from_micros, migrate, to_micros, transaction
from hub.fhir.consent import PURPOSES
from hub.fhir.errors import FhirClientError
from hub.registry.figures import organisation_ids

__all__ = ["AccessToken", "FhirClient", "FhirClients", "parse_jwks"]

MIGRATIONS = [
    (
        "CREATE TABLE fhir_client (client_id TEXT PRIMARY KEY, organisation TEXT NOT NULL,"
        " purpose TEXT NOT NULL, jwks TEXT NOT NULL, created_us INTEGER NOT NULL,"
        " disabled_us INTEGER)"
    ),
    (
        "CREATE TABLE fhir_jti (client_id TEXT NOT NULL, jti TEXT NOT NULL,"
        " expires_us INTEGER NOT NULL, PRIMARY KEY (client_id, jti))"
    ),
    (
        "CREATE TABLE fhir_token (token_sha256 TEXT PRIMARY KEY, client_id TEXT NOT NULL,"
        " scopes TEXT NOT NULL, issued_us INTEGER NOT NULL, expires_us INTEGER NOT NULL)"
    ),
    "CREATE INDEX fhir_token_expiry ON fhir_token (expires_us)",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PRIVATE_PARTS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})
TOKEN_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class FhirClient:
    client_id: str
    organisation: str
    purpose: str
    jwks: dict[str, Any]
    created: datetime
    disabled: datetime | None


@dataclass(frozen=True, slots=True)
class AccessToken:
    client: FhirClient
    scopes: frozenset[str]
    expires: datetime


def parse_jwks(text: str, where: str) -> dict[str, Any]:
    """A JWKS of public RSA/EC keys, checked; ``where`` names the source in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FhirClientError(where, f"not JSON: {exc}") from exc
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise FhirClientError(where, 'a JWKS is an object with a non-empty "keys" list')
    for index, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("kty") not in {"RSA", "EC"}:
            raise FhirClientError(where, f"keys[{index}]: kty must be RSA or EC")
        if _PRIVATE_PARTS & set(key):
            raise FhirClientError(where, f"keys[{index}] is a private key; register the public one")
    try:
        KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise FhirClientError(where, f"not a usable key set: {exc}") from exc
    return {"keys": keys}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FhirClients:
    """The ``fhir_client``, ``fhir_jti`` and ``fhir_token`` tables (component ``fhir_client``)."""

    def __init__(self, conn: Connection, clock: Clock = utcnow) -> None:
        self._conn = conn
        self._clock = clock
        migrate(conn, "fhir_client", MIGRATIONS)
        ensure_audit_schema(conn)

    def add(
        self, client_id: str, organisation: str, jwks: dict[str, Any], *, purpose: str, actor: str
    ) -> FhirClient:
        """Register a client; audited as ``fhir_client_added``."""
        if not _NAME.match(client_id):
            raise FhirClientError(client_id, "a name is 1-64 letters, digits, '.', '_' or '-'")
        if organisation not in organisation_ids(self._conn):
            raise FhirClientError(
                client_id, f"organisation {organisation!r} is not in the registry"
            )
        if purpose not in PURPOSES:
            raise FhirClientError(
                client_id, f"purpose {purpose!r} is not one of {', '.join(sorted(PURPOSES))}"
            )
        now = self._clock()
        try:
            with transaction(self._conn):
                self._conn.execute(
                    "INSERT INTO fhir_client (client_id, organisation, purpose, jwks, created_us)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (client_id, organisation, purpose, json.dumps(jwks), to_micros(now)),
                )
                record_admin_action(
                    self._conn,
                    time=now,
                    actor=actor,
                    organisation=None,
                    action="fhir_client_added",
                    target=client_id,
                    detail={"organisation": organisation, "purpose": purpose},
                    affected=(organisation,),
                )
        except sqlite3.IntegrityError as exc:
            raise FhirClientError(client_id, "is already registered") from exc
        return FhirClient(client_id, organisation, purpose, jwks, now, None)

    def get(self, client_id: str) -> FhirClient | None:
        row = self._conn.execute(
            "SELECT client_id, organisation, purpose, jwks, created_us, disabled_us"
            " FROM fhir_client WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        if row is None:
            return None
        cid, org, purpose, jwks, created, disabled = row
        return FhirClient(
            str(cid),
            str(org),
            str(purpose),
            json.loads(jwks),
            from_micros(int(created)),
            None if disabled is None else from_micros(int(disabled)),
        )

    def use_jti(self, client_id: str, jti: str, expires: datetime) -> bool:
        """Record an assertion id; False if the client used it before (a replay)."""
        now = to_micros(self._clock())
        with transaction(self._conn, operation="record jti"):
            self._conn.execute("DELETE FROM fhir_jti WHERE expires_us < ?", (now,))
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO fhir_jti (client_id, jti, expires_us) VALUES (?, ?, ?)",
                (client_id, jti, to_micros(expires)),
            )
        return cur.rowcount == 1

    def issue_token(self, client_id: str, scopes: frozenset[str]) -> tuple[str, datetime]:
        """A new access token for the client and its expiry."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + TOKEN_LIFETIME
        with transaction(self._conn, operation="issue access token"):
            self._conn.execute("DELETE FROM fhir_token WHERE expires_us < ?", (to_micros(now),))
            self._conn.execute(
                "INSERT INTO fhir_token (token_sha256, client_id, scopes, issued_us, expires_us)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    _hash(token),
                    client_id,
                    " ".join(sorted(scopes)),
                    to_micros(now),
                    to_micros(expires),
                ),
            )
        return token, expires

    def token(self, token: str) -> AccessToken | None:
        """The valid (unexpired, client enabled) access token, or None."""
        row = self._conn.execute(
            "SELECT client_id, scopes, expires_us FROM fhir_token WHERE token_sha256 = ?",
            (_hash(token),),
        ).fetchone()
        if row is None or int(row[2]) <= to_micros(self._clock()):
            return None
        client = self.get(str(row[0]))
        if client is None or client.disabled is not None:
            return None
        return AccessToken(client, frozenset(str(row[1]).split()), from_micros(int(row[2])))
