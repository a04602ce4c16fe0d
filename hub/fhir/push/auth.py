"""How the hub proves itself to a recipient: a bearer token, or SMART Backend Services.

SMART Backend Services (client credentials, ``private_key_jwt``): the hub signs a short-lived
JWT (iss = sub = client id, aud = the token URL, a fresh ``jti``, 5 minutes) with its private
key (RS384 or ES384, joserfc), posts it to the recipient's token endpoint and uses the access
token it gets until shortly before it expires, or until the recipient answers 401.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from abc import ABC, abstractmethod
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from foundation.clock import utcnow
from hub.errors import HubError
from hub.fhir.push.settings import BearerAuth, SmartAuth
from hub.fhir.push.transport import PushTransport

__all__ = ["PushAuth", "PushAuthError", "SmartBackendAuth", "StaticBearer", "auth_for"]

ASSERTION_TTL_S = 300
EARLY_S = 30
"""A token is renewed this long before the recipient said it expires."""


class PushAuthError(HubError):
    """No credentials: a token file or variable missing, a key that does not load, or a token
    endpoint that refuses the hub or answers nonsense."""


class PushAuth(ABC):
    @abstractmethod
    async def authorization(self, transport: PushTransport) -> str:
        """The value of the ``Authorization`` header."""

    def invalidate(self) -> None:  # noqa: B027 - a fixed token has nothing to forget
        """The recipient refused the credentials (401): get new ones next time."""


class StaticBearer(PushAuth):
    def __init__(self, settings: BearerAuth, recipient: str) -> None:
        if settings.token_file is not None:
            try:
                token = settings.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise PushAuthError(
                    f"fhir_push recipient {recipient!r}: auth.token_file"
                    f" {settings.token_file}: {exc.strerror or exc}"
                ) from exc
            where = f"auth.token_file {settings.token_file}"
        else:
            token = os.environ.get(str(settings.token_env), "").strip()
            where = f"auth.token_env {settings.token_env}"
        if not token:
            raise PushAuthError(f"fhir_push recipient {recipient!r}: {where} is empty")
        self._header = f"Bearer {token}"

    async def authorization(self, transport: PushTransport) -> str:
        del transport
        return self._header


class SmartBackendAuth(PushAuth):
    def __init__(self, settings: SmartAuth, recipient: str) -> None:
        self._settings = settings
        self._recipient = recipient
        self._key = _load_key(settings, recipient)
        self._token: str | None = None
        self._expires = 0.0

    def invalidate(self) -> None:
        self._token = None

    async def authorization(self, transport: PushTransport) -> str:
        if self._token is None or time.monotonic() >= self._expires:
            self._token, lifetime = await self._fetch(transport)
            self._expires = time.monotonic() + max(0.0, lifetime - EARLY_S)
        return f"Bearer {self._token}"

    def assertion(self) -> str:
        s = self._settings
        now = int(utcnow().timestamp())
        claims = {
            "iss": s.client_id,
            "sub": s.client_id,
            "aud": str(s.token_url),
            "exp": now + ASSERTION_TTL_S,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": s.algorithm, "kid": s.key_id, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[s.algorithm])

    async def _fetch(self, transport: PushTransport) -> tuple[str, float]:
        s = self._settings
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "scope": s.scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(),
            }
        ).encode()
        answer = await transport.post(
            str(s.token_url),
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        where = f"fhir_push recipient {self._recipient!r}: token endpoint {s.token_url}"
        if answer.status != 200:
            detail = answer.body[:300].decode("utf-8", "replace")
            raise PushAuthError(f"{where} answered {answer.status}: {detail}")
        try:
            data = json.loads(answer.body)
            return str(data["access_token"]), float(data.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise PushAuthError(f"{where} answered 200 without an access_token") from exc


def _load_key(settings: SmartAuth, recipient: str) -> RSAKey | ECKey:
    where = f"fhir_push recipient {recipient!r}: auth.private_key_file {settings.private_key_file}"
    try:
        pem = settings.private_key_file.read_bytes()
    except OSError as exc:
        raise PushAuthError(f"{where}: {exc.strerror or exc}") from exc
    kind = RSAKey if settings.algorithm == "RS384" else ECKey
    try:
        key = kind.import_key(pem)
    except (ValueError, TypeError) as exc:
        raise PushAuthError(f"{where}: not a {settings.algorithm} private key ({exc})") from exc
    if not key.is_private:
        raise PushAuthError(f"{where}: a public key; the private key is needed")
    return key


def auth_for(settings: BearerAuth | SmartAuth, recipient: str) -> PushAuth:
    if isinstance(settings, BearerAuth):
        return StaticBearer(settings, recipient)
    return SmartBackendAuth(settings, recipient)
