"""The outermost layer of the hub's HTTP app: bounded bodies, authentication before any body
is read, and the security headers of every answer.

:class:`RequestGuard` (an ASGI middleware) does three things:

* **Bounded bodies.** A request whose ``Content-Length`` exceeds the limit is answered 413
  before one byte of it is read; a chunked body is counted as it arrives and the request
  fails with 413 as soon as it passes the limit. The limit is ``[http] max_body_bytes``;
  the vendor ingest route has its own, :data:`schemas.models.MAX_PAYLOAD_BYTES`, and answers
  a too-large declared length itself (after checking the vendor's token). The server
  discards the rest of a refused body without keeping it.
* **Authentication first.** ``POST``/``PUT``/``PATCH``/``DELETE`` outside the few public
  routes (sign-in, sign-out, language, vendor ingest, which checks its own token first, and
  the FHIR token endpoint, which checks the client's signed assertion) must
  carry a valid API token or session before the body is read: FastAPI reads and parses a
  body before it runs the dependencies that authenticate. Otherwise the answer is 401 (JSON
  API) or a redirect to the sign-in page (dashboard forms).
* **Headers.** Every answer gets ``X-Content-Type-Options: nosniff`` and a
  ``Referrer-Policy``; everything but the static files gets ``Cache-Control: no-store``
  (always on ``/api/``) and a Content-Security-Policy if the route set none (HTML: the
  dashboard's policy; anything else: nothing may load or frame it).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, status

from hub.auth.errors import NotAuthenticatedError
from hub.auth.web import find_authenticator
from hub.web.csrf import (
    SESSION_COOKIE,
    UNSAFE_METHODS,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    cookies_of,
)
from schemas.models import MAX_PAYLOAD_BYTES

__all__ = ["DEFAULT_MAX_BODY_BYTES", "PAGE_POLICY", "RequestGuard", "TooLargeError"]

DEFAULT_MAX_BODY_BYTES = 256 * 1024
INGEST_PATH = "/api/v1/observations"
FHIR_TOKEN_PATH = "/fhir/auth/token"  # noqa: S105 - a path, not a secret
"""SMART Backend Services token endpoint: authenticated by its signed assertion (hub.fhir)."""
PUBLIC_WRITES = frozenset({"/sign-in", "/sign-out", "/language", INGEST_PATH, FHIR_TOKEN_PATH})
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class TooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI re-raises
    HTTP exceptions met while reading a body, so the route answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE, f"the request body is larger than {limit} bytes"
        )


def _limit(scope: Scope) -> int:
    hub = getattr(getattr(scope.get("app"), "state", None), "hub", None)
    http = getattr(getattr(hub, "settings", None), "http", None)
    limit = int(getattr(http, "max_body_bytes", DEFAULT_MAX_BODY_BYTES))
    return max(limit, MAX_PAYLOAD_BYTES) if scope["path"] == INGEST_PATH else limit


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def _signed_in(scope: Scope) -> bool | None:
    """Whether the request carries valid credentials; None if authentication is not set up."""
    auth = find_authenticator(scope.get("app"))
    if auth is None:
        return None
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin-1") or None
    try:
        auth.authenticate(authorization, cookies_of(scope).get(SESSION_COOKIE))
    except NotAuthenticatedError:
        return False
    return True


async def _answer(send: Send, code: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"status": code, "detail": detail}).encode()
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _add_headers(message: Message, path: str) -> None:
    present = {name.lower() for name, _ in message.get("headers", [])}
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    extra: dict[bytes, bytes] = {b"x-content-type-options": b"nosniff"}
    extra[b"referrer-policy"] = b"same-origin"
    if not path.startswith("/static/"):
        extra[b"cache-control"] = b"no-store"
        policy = PAGE_POLICY if content_type.startswith(b"text/html") else DATA_POLICY
        extra[b"content-security-policy"] = policy.encode()
    if path.startswith("/api/"):  # never cached, whatever the route said
        headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
        present.discard(b"cache-control")
    headers += [(k, v) for k, v in extra.items() if k not in present]
    message["headers"] = headers


class RequestGuard:
    """Bound bodies, authenticate writes before reading them, add security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, path)
            await send(message)

        limit = _limit(scope)
        declared = _declared_length(scope)
        if declared is not None and (declared < 0 or declared > limit) and path != INGEST_PATH:
            detail = f"the request body is larger than {limit} bytes"
            await _answer(guarded_send, 413, detail, {})
            return
        if scope["method"] in UNSAFE_METHODS and path not in PUBLIC_WRITES:
            signed_in = _signed_in(scope)
            if signed_in is None:
                await _answer(guarded_send, 503, "authentication is not set up", {})
                return
            if not signed_in:
                await self._refuse(path, guarded_send)
                return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await guarded_send(message)

        try:
            await self.app(scope, _bounded(receive, limit), tracked_send)
        except TooLargeError as exc:  # met outside a route (e.g. the CSRF form check)
            if started:
                raise
            await _answer(guarded_send, exc.status_code, str(exc.detail), {})

    @staticmethod
    async def _refuse(path: str, send: Send) -> None:
        if path.startswith("/api/"):
            detail = "sign in or send a valid API token"
            await _answer(send, 401, detail, {"www-authenticate": "Bearer"})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", b"/sign-in"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _bounded(receive: Receive, limit: int) -> Receive:
    received = 0

    async def bounded() -> Message:
        nonlocal received
        message: Any = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise TooLargeError(limit)
        return message  # type: ignore[no-any-return]

    return bounded
