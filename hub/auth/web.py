"""Sign-in and the FastAPI dependencies ``current_user`` and ``require_role``.

A request is authenticated by ``Authorization: Bearer <API token>`` or by the session
cookie ``hjem_session``. Install an :class:`Authenticator` on the app once
(``install_auth(app, authenticator)``) or let the hub carry it as ``hub.auth``; the
dependencies look in ``app.state.hjem_auth``, then ``app.state.hub.auth``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI, HTTPException, Request, status

from hub.auth.errors import InvalidCredentialsError, NotAuthenticatedError
from hub.auth.throttle import LoginThrottle
from hub.auth.users import Role, User, UserStore

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


@dataclass
class Authenticator:
    users: UserStore
    throttle: LoginThrottle
    session_ttl: timedelta = timedelta(hours=12)

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
        return user, self.users.start_session(user.id, self.session_ttl, address)

    def sign_out(self, session_id: str) -> None:
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
            user = self.users.user_for_session(session_id)
            if user is None:
                raise NotAuthenticatedError("session expired; sign in again")
            return user
        raise NotAuthenticatedError


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
