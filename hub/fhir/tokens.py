"""The SMART Backend Services token endpoint's checks (OAuth 2.0 client credentials with a
``private_key_jwt`` assertion, RFC 7523; SMART App Launch 2, "Backend Services").

The assertion is a JWT signed RS384 or ES384 by one of the client's registered keys; its
``iss`` and ``sub`` are the ``client_id``, ``aud`` is this token endpoint's URL, ``exp`` is in
the future and at most five minutes ahead, and its ``jti`` was never used by this client.
Scopes are system scopes on the resource types served (``system/Observation.rs`` and the
SMART v1 form ``system/Observation.read``); the token carries those requested that are
known, and the request fails when none is.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hub.fhir.clients import FhirClient, FhirClients

__all__ = [
    "ASSERTION_TYPE",
    "RESOURCE_TYPES",
    "SIGNING_ALGORITHMS",
    "TokenError",
    "allows_scope",
    "check_assertion",
    "granted_scopes",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SIGNING_ALGORITHMS = ("RS384", "ES384")
RESOURCE_TYPES = ("Observation", "Patient", "Device")
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
_SCOPE = re.compile(r"^system/(\*|[A-Za-z]+)\.(read|rs|r|s|cruds|\*)$")


@dataclass(frozen=True, slots=True)
class TokenError(Exception):
    """An OAuth error answer: ``error`` code, a description, the HTTP status."""

    error: str
    description: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"


def _unverified_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise TokenError("invalid_client", "client_assertion is not a compact JWS")
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise TokenError("invalid_client", "client_assertion payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise TokenError("invalid_client", "client_assertion payload is not an object")
    return claims


def _verify(assertion: str, client: FhirClient) -> dict[str, Any]:
    try:
        keys = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        token = jwt.decode(assertion, keys, algorithms=list(SIGNING_ALGORITHMS))
    except JoseError as exc:
        raise TokenError(
            "invalid_client", f"client_assertion signature not verified: {exc.error}"
        ) from exc
    except ValueError as exc:
        raise TokenError("invalid_client", f"client_assertion not verified: {exc}") from exc
    if token.header.get("alg") not in SIGNING_ALGORITHMS:
        raise TokenError("invalid_client", "client_assertion must be signed RS384 or ES384")
    return dict(token.claims)


def _check_claims(claims: dict[str, Any], client_id: str, audience: str, now: datetime) -> None:
    if claims.get("sub") != client_id:
        raise TokenError("invalid_client", "client_assertion sub must equal iss (the client_id)")
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise TokenError("invalid_client", f"client_assertion aud must be {audience}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError("invalid_client", "client_assertion needs a numeric exp")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now:
        raise TokenError("invalid_client", "client_assertion has expired")
    if expires - now > MAX_ASSERTION_LIFETIME:
        raise TokenError("invalid_client", "client_assertion exp is more than 5 minutes ahead")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and datetime.fromtimestamp(nbf, UTC) > now + timedelta(
        seconds=60
    ):
        raise TokenError("invalid_client", "client_assertion is not valid yet (nbf)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenError("invalid_client", "client_assertion needs a jti")


def check_assertion(
    clients: FhirClients, form: dict[str, str], audience: str, now: datetime
) -> FhirClient:
    """The client a token request authenticates, or :class:`TokenError`."""
    if form.get("grant_type") != "client_credentials":
        raise TokenError("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise TokenError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion") or ""
    client_id = _unverified_claims(assertion).get("iss")
    client = clients.get(client_id) if isinstance(client_id, str) else None
    if client is None or client.disabled is not None:
        raise TokenError("invalid_client", "unknown client (iss)")
    claims = _verify(assertion, client)
    _check_claims(claims, client.client_id, audience, now)
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if not clients.use_jti(client.client_id, str(claims["jti"]), expires):
        raise TokenError("invalid_client", "client_assertion jti was used before (replay)")
    return client


def granted_scopes(requested: str) -> frozenset[str]:
    """The system scopes asked for that this server knows; TokenError when none."""
    granted = set()
    for scope in requested.split():
        match = _SCOPE.match(scope)
        if match and match.group(1) in {*RESOURCE_TYPES, "*"}:
            granted.add(scope)
    if not granted:
        known = ", ".join(f"system/{r}.rs" for r in RESOURCE_TYPES)
        raise TokenError("invalid_scope", f"ask for at least one of {known} (or .read)")
    return frozenset(granted)


def allows_scope(scopes: frozenset[str], resource_type: str, interaction: str) -> bool:
    """Whether ``scopes`` allow ``interaction`` (``r`` read, ``s`` search) on the type."""
    for scope in scopes:
        match = _SCOPE.match(scope)
        if match is None or match.group(1) not in {resource_type, "*"}:
            continue
        permission = match.group(2)
        if permission in {"read", "*"} or interaction in permission:
            return True
    return False
