"""CSRF protection for every state-changing request that rides on a cookie.

The token is ``HMAC-SHA256(key=this hub's secret, "hjem-csrf-v2" + cookie value)``. The key is
random per hub (made on first start and kept in the hub's database, see
:attr:`hub.auth.UserStore.csrf_key`), so someone who can plant or read a cookie still cannot
compute its token. Signed-in users' tokens come from the session cookie (each session has its
own, and signing out invalidates it); the sign-in form's token comes from a random
pre-session cookie (``hjem_csrf``), which stops login CSRF.

:class:`CsrfMiddleware` wraps the whole ASGI app, so the alert API's ``POST`` routes are
covered as well as the dashboard's forms. Cookies are parsed exactly as authentication parses
them (Starlette's parser on the same header), so a malformed cookie cannot hide the session
from this check while authentication still finds it. For ``POST``/``PUT``/``PATCH``/``DELETE``
with one of those cookies and without a bearer ``Authorization`` header, the token must
arrive in the ``X-CSRF-Token`` header (fetch) or the ``csrf_token`` field of a url-encoded
form; otherwise the answer is 403 (also when the hub has no key to check it with). Requests
with a bearer token carry no ambient authority and need none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PRE_SESSION_COOKIE",
    "SESSION_COOKIE",
    "CsrfMiddleware",
    "cookies_of",
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


def csrf_token(key: bytes, cookie: str) -> str:
    """The CSRF token that belongs to a session (or pre-session) cookie value."""
    return hmac.new(key, b"hjem-csrf-v2\x00" + cookie.encode(), hashlib.sha256).hexdigest()


def token_matches(key: bytes, cookie: str, given: str | None) -> bool:
    if not cookie or not given:
        return False
    return hmac.compare_digest(csrf_token(key, cookie), str(given))


def new_pre_session_value() -> str:
    return secrets.token_urlsafe(32)


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies as authentication sees them (``Request.cookies``)."""
    return HTTPConnection(scope).cookies


def csrf_secret(cookies: dict[str, str]) -> str | None:
    """The cookie the request's CSRF token is derived from (session first), if present.

    A present but empty cookie gives ``""``: it still demands a token, which cannot match.
    """
    for name in (SESSION_COOKIE, PRE_SESSION_COOKIE):
        if name in cookies:
            return cookies[name]
    return None


def csrf_key_of(app: object) -> bytes | None:
    """The CSRF key of the app's authenticator (``hub.auth``), if authentication is set up."""
    from hub.auth.web import find_authenticator

    auth = find_authenticator(app)
    return auth.users.csrf_key if auth is not None else None


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
        secret = csrf_secret(cookies_of(scope))
        if auth.startswith("bearer ") or secret is None:
            await self.app(scope, receive, send)
            return
        key = csrf_key_of(scope.get("app"))
        if key is None:
            await _forbidden(send)
            return
        if token_matches(key, secret, _header(headers, CSRF_HEADER.encode())):
            scope.setdefault("state", {})["csrf_checked"] = True
            await self.app(scope, receive, send)
            return
        content_type = (_header(headers, b"content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            body = await _read_body(receive)
            if body is not None:
                fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                given = fields.get(CSRF_FIELD, [""])[0]
                if token_matches(key, secret, given):
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
