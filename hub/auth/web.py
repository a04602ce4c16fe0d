"""Sign-in and the FastAPI dependencies ``current_user`` and ``require_role``.

A request is authenticated by ``Authorization: Bearer <API token>`` or by the session
cookie ``hjem_session``. Install an :class:`Authenticator` on the app once
(``install_auth(app, authenticator)``) or let the hub carry it as ``hub.auth``; the
dependencies look in ``app.state.hjem_auth``, then ``app.state.hub.auth``.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI, HTTPException, Request, status

from hub.auth.errors import InvalidCredentialsError, NotAuthenticatedError
from hub.auth.throttle import LoginThrottle
from hub.auth.users import Role, User, UserStore
from hub.errors import StoreError

__all__ = [
    "SESSION_COOKIE",
    "Authenticator",
    "current_user",
    "find_authenticator",
    "install_auth",
    "require_role",
]

SESSION_COOKIE = "hjem_session"
log = logging.getLogger("hub.events")


OUTAGE_GRACE_S = 900.0
"""While the hub database cannot be read, a session the database confirmed at most this long
ago still counts (this node's memory), so that an open board keeps polling its status banner
and shows the storage fault instead of a sign-in page; nothing can be changed meanwhile."""
_REMEMBERED = 10_000


@dataclass
class Authenticator:
    users: UserStore
    throttle: LoginThrottle
    session_ttl: timedelta = timedelta(hours=12)
    _confirmed: dict[bytes, tuple[User, float]] = field(default_factory=dict, repr=False)
    """Session id digest -> the user and when the database last confirmed it (monotonic)."""

    def sign_in(self, username: str, password: str, address: str | None) -> tuple[User, str]:
        """Check the password (throttled); return the user and a new session id.

        Raises :class:`TooManyAttemptsError` or :class:`InvalidCredentialsError`.
        """
        self.throttle.check(username, address)
        user = self.users.check_password(username, password)
        if user is None:
            self.throttle.failure(username, address)
            log.warning(
                "sign-in failed: user %r from %s",
                username[:64],
                address or "?",
                extra={"event": "sign_in_failed", "username": username[:64], "address": address},
            )
            raise InvalidCredentialsError
        self.throttle.success(username, address)
        session = self.users.start_session(user.id, self.session_ttl, address)
        self._confirm(session, user)
        return user, session

    def sign_out(self, session_id: str) -> None:
        self._confirmed.pop(hashlib.sha256(session_id.encode()).digest(), None)
        self.users.end_session(session_id)

    def authenticate(self, authorization: str | None, session_id: str | None) -> User:
        """The user behind a bearer token or a session cookie; the token wins if both."""
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise NotAuthenticatedError("Authorization must be 'Bearer <API token>'")
            user = self.users.user_for_token(credential.strip())
            if user is None:
                raise NotAuthenticatedError("unknown, expired or revoked API token")
            return user
        if session_id:
            return self._session_user(session_id)
        raise NotAuthenticatedError

    def _session_user(self, session_id: str) -> User:
        key = hashlib.sha256(session_id.encode()).digest()
        try:
            user = self.users.user_for_session(session_id)
        except (StoreError, sqlite3.Error):  # the database cannot be read (PostgreSQL down)
            known = self._confirmed.get(key)
            if known is None or time.monotonic() - known[1] > OUTAGE_GRACE_S:
                raise
            return known[0]
        if user is None:
            self._confirmed.pop(key, None)
            raise NotAuthenticatedError("session expired; sign in again")
        self._confirm(session_id, user)
        return user

    def _confirm(self, session_id: str, user: User) -> None:
        key = hashlib.sha256(session_id.encode()).digest()
        self._confirmed.pop(key, None)
        if len(self._confirmed) >= _REMEMBERED:
            self._confirmed.pop(next(iter(self._confirmed)))  # the longest unconfirmed
        self._confirmed[key] = (user, time.monotonic())


def install_auth(app: FastAPI, authenticator: Authenticator) -> None:
    app.state.hjem_auth = authenticator


def find_authenticator(app: object) -> Authenticator | None:
    """The app's authenticator: ``app.state.hjem_auth``, else the running hub's ``auth``."""
    state = getattr(app, "state", None)
    auth = getattr(state, "hjem_auth", None)
    if auth is None:  # the running hub's authenticator (hub.compose builds it)
        auth = getattr(getattr(state, "hub", None), "auth", None)
    return auth if isinstance(auth, Authenticator) else None


def _authenticator(request: Request) -> Authenticator:
    auth = find_authenticator(request.app)
    if auth is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "authentication is not set up")
    return auth


async def current_user(request: Request) -> User:
    """FastAPI dependency: the signed-in user or API-token owner, else HTTP 401."""
    auth = _authenticator(request)
    try:
        return auth.authenticate(
            request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)
        )
    except NotAuthenticatedError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc


def require_role(*roles: Role) -> Callable[[Request], Awaitable[User]]:
    """FastAPI dependency factory: the current user, if they have one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> User:
        user = await current_user(request)
        if user.role not in allowed:
            wanted = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs role {wanted}")
        return user

    return dependency
