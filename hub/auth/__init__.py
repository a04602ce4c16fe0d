"""Staff authentication for the hub: users (Argon2 passwords), roles, organisation and team
membership, API tokens, server-side sessions, sign-in throttling and FastAPI dependencies."""

from __future__ import annotations

from hub.auth.errors import (
    AuthError,
    InvalidCredentialsError,
    NotAuthenticatedError,
    PermissionDeniedError,
    TooManyAttemptsError,
    UserExistsError,
)
from hub.auth.throttle import LoginThrottle, ThrottleLimits
from hub.auth.users import Role, User, UserStore, fast_hasher
from hub.auth.web import SESSION_COOKIE, Authenticator, current_user, install_auth, require_role

__all__ = [
    "SESSION_COOKIE",
    "AuthError",
    "Authenticator",
    "InvalidCredentialsError",
    "LoginThrottle",
    "NotAuthenticatedError",
    "PermissionDeniedError",
    "Role",
    "ThrottleLimits",
    "TooManyAttemptsError",
    "User",
    "UserExistsError",
    "UserStore",
    "current_user",
    "fast_hasher",
    "install_auth",
    "require_role",
]
