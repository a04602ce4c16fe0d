"""Errors of the staff authentication component."""

from __future__ import annotations

from hub.errors import HubError

__all__ = [
    "AuthError",
    "InvalidCredentialsError",
    "NotAuthenticatedError",
    "PermissionDeniedError",
    "TooManyAttemptsError",
    "UserExistsError",
]


class AuthError(HubError):
    """Root of the staff authentication errors."""


class InvalidCredentialsError(AuthError):
    """Wrong user name or password (deliberately not saying which)."""

    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class TooManyAttemptsError(AuthError):
    """Sign-in refused for a while after repeated failures."""

    def __init__(self, scope: str, retry_after_s: int) -> None:
        self.scope = scope
        self.retry_after_s = retry_after_s
        super().__init__(f"too many failed sign-ins ({scope}); try again in {retry_after_s} s")


class NotAuthenticatedError(AuthError):
    def __init__(self, detail: str = "sign in or send a valid API token") -> None:
        super().__init__(detail)


class PermissionDeniedError(AuthError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class UserExistsError(AuthError):
    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"user {username!r} already exists")
