"""CSRF protection for every state-changing request that rides on a cookie.

The token is derived from the cookie it protects: ``HMAC-SHA256(key=cookie value,
"hjem-csrf-v1")``. Signed-in users' tokens come from the session cookie (so each session
has its own, and signing out invalidates it); the sign-in form's token comes from a random
pre-session cookie (``hjem_csrf``), which stops login CSRF. A page on another site can make
the browser send the cookies but can neither read them nor the token in our pages.

:class:`CsrfMiddleware` wraps the whole ASGI app, so the alert API's ``POST`` routes are
covered as well as the dashboard's forms. For ``POST``/``PUT``/``PATCH``/``DELETE`` with one
of those cookies and without a bearer ``Authorization`` header, the token must arrive in the
``X-CSRF-Token`` header (fetch) or the ``csrf_token`` field of a url-encoded form; otherwise
the answer is 403. Requests with a bearer token carry no ambient authority and need none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PRE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "CsrfMiddleware",
    "csrf_secret",
    "csrf_token",
    "new_pre_session_value",
    "token_matches",
]

SESSION_COOKIE = "hjem_session"
PRE_SESSION_COOKIE = "hjem_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 1 << 20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def csrf_token(secret: str) -> str:
    """The CSRF token that belongs to a session (or pre-session) cookie value."""
    return hmac.new(secret.encode(), b"hjem-csrf-v1", hashlib.sha256).hexdigest()


def token_matches(secret: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret), str(given))


def new_pre_session_value() -> str:
    return secrets.token_urlsafe(32)


def cookies_of(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed Cookie header means "no cookies"
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


def csrf_secret(cookies: dict[str, str]) -> str | None:
    """The cookie value the request's CSRF token is derived from, if any."""
    return cookies.get(SESSION_COOKIE) or cookies.get(PRE_SESSION_COOKIE) or None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class CsrfMiddleware:
    """Reject cookie-authenticated state changes without the right token (403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        auth = (_header(headers, b"authorization") or "").lower()
        secret = csrf_secret(cookies_of(headers))
        if auth.startswith("bearer ") or secret is None:
            await self.app(scope, receive, send)
            return
        if token_matches(secret, _header(headers, CSRF_HEADER.encode())):
            scope.setdefault("state", {})["csrf_checked"] = True
            await self.app(scope, receive, send)
            return
        content_type = (_header(headers, b"content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            body = await _read_body(receive)
            if body is not None:
                fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                given = fields.get(CSRF_FIELD, [""])[0]
                if token_matches(secret, given):
                    scope.setdefault("state", {})["csrf_checked"] = True
                    await self.app(scope, _replay(body, receive), send)
                    return
        await _forbidden(send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _forbidden(send: Send) -> None:
    body = json.dumps({"detail": "CSRF token missing or wrong"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
