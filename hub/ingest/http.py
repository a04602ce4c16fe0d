"""``POST /api/v1/observations`` for vendors that cannot speak MQTT.

The request carries ``Authorization: Bearer <token>``; the token names the publisher, and
the body is validated and bound exactly like an MQTT message on ``hjem/v1/{publisher}/obs``.
Errors are RFC 9457 problem details (``application/problem+json``) with an ``errors`` list of
(JSON path, reason, observation id). A partly valid batch stores its valid observations and
answers 200 with the errors listed, and with ``notices`` about what it accepted (a device not
assigned to a resident, a code the codes table does not know: :mod:`hub.ingest.notices`); a
refused envelope answers 422 (403 when the payload names another publisher than the token's)
and stores nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hub.app import get_hub
from hub.ingest.notices import notices_of
from hub.problems import problem_uri
from hub.service import Hub
from schemas.models import MAX_PAYLOAD_BYTES, RejectionError

__all__ = ["problem", "router"]

router = APIRouter(tags=["ingest"])


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body = {"type": problem_uri(slug), "title": title, "status": status, "detail": detail}
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="hjem"'} if status == 401 else None
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def _errors(errors: list[RejectionError] | tuple[RejectionError, ...]) -> list[dict[str, Any]]:
    return [e.model_dump(exclude_none=True) for e in errors]


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_PAYLOAD_BYTES:
            return None
    return bytes(body)


@router.post("/api/v1/observations")
async def post_observations(
    request: Request, hub: Annotated[Hub, Depends(get_hub)]
) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(
            401,
            "unauthorized",
            "Missing credentials",
            "send Authorization: Bearer <publisher token>",
        )
    publisher = hub.registry.authenticate(token.strip())
    if publisher is None:
        return problem(401, "unauthorized", "Unknown token", "the bearer token is not valid")
    body = await _read_body(request)
    if body is None:
        return problem(
            413, "too-large", "Payload too large", f"a message is at most {MAX_PAYLOAD_BYTES} bytes"
        )
    processed = await hub.ingest_http(publisher, body)
    judgement = processed.judgements[0]
    rejection = judgement.rejection
    stored = len(processed.stored)
    if rejection is not None and not judgement.items:
        mismatch = any(e.path == "$.publisher" for e in rejection.errors)
        return problem(
            403 if mismatch else 422,
            "publisher-mismatch" if mismatch else "invalid-message",
            "Publisher mismatch" if mismatch else "Invalid message",
            rejection.errors[0].reason,
            message_id=rejection.message_id,
            accepted=0,
            rejected=rejection.rejected,
            errors=_errors(rejection.errors),
        )
    accepted = len(judgement.items)
    return JSONResponse(
        {
            "message_id": judgement.message_id,
            "accepted": accepted,
            "stored": stored,
            "duplicates": accepted - stored,
            "rejected": rejection.rejected if rejection else 0,
            "errors": _errors(rejection.errors) if rejection else [],
            "notices": [n.model_dump(exclude_none=True) for n in notices_of(judgement)],
        }
    )
