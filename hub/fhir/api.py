"""The hub's FHIR R4 HTTP API: ``/fhir`` with SMART Backend Services authorisation.

Routes: ``GET /fhir/metadata`` and the SMART discovery documents (public), ``POST
/fhir/auth/token`` (client credentials with a ``private_key_jwt`` assertion), and, with a
bearer access token from it, ``GET /fhir/Observation?...``, ``GET /fhir/Patient[/{id}]`` and
``GET /fhir/Device/{id}``. Answers are ``application/fhir+json``; errors are
``OperationOutcome`` (400 bad search, 401 no or expired token, 403 scope or consent missing,
404 unknown resource). Every request, refused or served, is written to the access log.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hub.app import get_hub
from hub.fhir.capability import TOKEN_PATH, capability_statement, smart_configuration
from hub.fhir.resources import FHIR_JSON, fhir_json, operation_outcome
from hub.fhir.room import Caller, FhirRoom, RefusalError
from hub.fhir.serve import read_device, read_patient, search_observations, search_patients
from hub.fhir.tokens import TokenError, allows_scope, check_assertion, granted_scopes

__all__ = ["room_of", "router"]

router = APIRouter(include_in_schema=False)
_ROOM_STATE = "fhir_room"
Work = Callable[[FhirRoom, Caller], dict[str, Any]]


def room_of(request: Request) -> FhirRoom:
    """The FHIR room over the running hub's database (made on first use)."""
    hub = get_hub(request)
    room: FhirRoom | None = getattr(request.app.state, _ROOM_STATE, None)
    if room is None or room.conn is not hub.conn:
        room = FhirRoom(hub.conn, hub.services.clock)
        setattr(request.app.state, _ROOM_STATE, room)
    return room


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _fhir(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(fhir_json(resource), status_code=status, media_type=FHIR_JSON, headers=headers)


def _version() -> str:
    try:
        return metadata.version("hjem")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


@router.get("/fhir/metadata")
async def capabilities(request: Request) -> Response:
    room = room_of(request)
    return _fhir(capability_statement(_origin(request), room.clock(), _version()))


@router.get("/.well-known/smart-configuration")
@router.get("/fhir/.well-known/smart-configuration")
async def smart_discovery(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_origin(request)))


def _token_error(room: FhirRoom, exc: TokenError, query: str) -> JSONResponse:
    room.access_log.record(
        time=room.clock(), client_id=None, organisation=None, residents=(), method="POST",
        query=query, returned=0, status=exc.status, outcome=str(exc),
    )  # fmt: skip
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status
    )


@router.post(TOKEN_PATH)
async def token(request: Request) -> JSONResponse:
    """OAuth 2.0 client credentials with a signed JWT assertion (SMART Backend Services)."""
    room = room_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    query = f"{TOKEN_PATH} scope={form.get('scope', '')}"
    now = room.clock()
    try:
        client = check_assertion(room.clients, form, f"{_origin(request)}{TOKEN_PATH}", now)
        scopes = granted_scopes(form.get("scope", ""))
    except TokenError as exc:
        if exc.error == "invalid_client":
            exc = TokenError(exc.error, exc.description, 401)
        return _token_error(room, exc, query)
    access, expires = room.clients.issue_token(client.client_id, scopes)
    room.access_log.record(
        time=now, client_id=client.client_id, organisation=client.organisation, residents=(),
        method="POST", query=query, returned=0, status=200,
    )  # fmt: skip
    return JSONResponse(
        {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": int((expires - now).total_seconds()),
            "scope": " ".join(sorted(scopes)),
        }
    )


def _caller(room: FhirRoom, request: Request, resource_type: str, interaction: str) -> Caller:
    """The authenticated caller whose scopes cover the interaction, else a refusal."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise RefusalError(401, "login", f"send an access token from {TOKEN_PATH}")
    found = room.clients.token(value.strip())
    if found is None:
        raise RefusalError(401, "expired", "the access token is unknown or has expired")
    caller = Caller(found.client, found.scopes, room.clock())
    if not allows_scope(caller.scopes, resource_type, interaction):
        raise RefusalError(
            403, "forbidden", f"the token's scopes do not cover {resource_type} ({interaction})"
        )
    return caller


def _serve(request: Request, resource_type: str, interaction: str, work: Work) -> Response:
    room = room_of(request)
    query = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    caller: Caller | None = None
    try:
        caller = _caller(room, request, resource_type, interaction)
        result, status, outcome = work(room, caller), 200, ""
    except RefusalError as exc:
        result, status, outcome = operation_outcome(exc.code, exc.diagnostics), exc.status, str(exc)
    room.access_log.record(
        time=room.clock(),
        client_id=caller.client.client_id if caller else None,
        organisation=caller.client.organisation if caller else None,
        residents=caller.residents if caller else (),
        method="GET",
        query=query,
        returned=caller.returned if caller and status == 200 else 0,
        status=status,
        outcome=outcome,
    )
    headers = {"WWW-Authenticate": 'Bearer realm="fhir"'} if status == 401 else None
    return _fhir(result, status, headers)


def _params(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


@router.get("/fhir/Observation")
async def observations(request: Request) -> Response:
    base = f"{_origin(request)}/fhir"
    return _serve(
        request, "Observation", "s",
        lambda room, caller: search_observations(room, caller, _params(request), base),
    )  # fmt: skip


@router.get("/fhir/Patient")
async def patients(request: Request) -> Response:
    base = f"{_origin(request)}/fhir"
    return _serve(
        request, "Patient", "s",
        lambda room, caller: search_patients(room, caller, _params(request), base),
    )  # fmt: skip


@router.get("/fhir/Patient/{resident_id}")
async def patient(request: Request, resident_id: str) -> Response:
    return _serve(
        request, "Patient", "r", lambda room, caller: read_patient(room, caller, resident_id)
    )


@router.get("/fhir/Device/{device_id}")
async def device(request: Request, device_id: str) -> Response:
    return _serve(request, "Device", "r", lambda room, caller: read_device(room, caller, device_id))


@router.get("/fhir/{rest:path}")
async def unsupported(rest: str) -> Response:
    diagnostics = f"/fhir/{rest}: not served here; see /fhir/metadata for what is"
    return _fhir(operation_outcome("not-supported", diagnostics), 404)
