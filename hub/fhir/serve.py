"""Serving the FHIR interactions for one authenticated caller, consent checked first.

Every interaction asks the consent repository at the time of the request which residents the
caller's organisation may see for the caller's purpose; a consent revoked a moment ago is no
longer among them, so the next request (or page) is refused. Naming a resident without a
consent in force is refused (403) whether or not the resident exists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hub.fhir.ids import device_of_fhir_id
from hub.fhir.resources import bundle, device, observation, patient
from hub.fhir.room import Caller, FhirRoom, RefusalError
from hub.fhir.search import ObservationSearch, SearchError, encode_cursor, parse_observation_search
from hub.registry.views import resident as resident_view
from hub.store.pages import (
    ObservationFilter,
    PagedObservation,
    latest_of_device,
    observation_page,
)

__all__ = ["read_device", "read_patient", "search_observations", "search_patients"]


def _allowed(room: FhirRoom, caller: Caller) -> list[str]:
    client = caller.client
    return room.consents.consented_residents(client.organisation, caller.now, client.purpose)


def _consented(room: FhirRoom, caller: Caller, residents: list[str]) -> list[str]:
    """``residents`` if a consent covers each of them now, else a 403 refusal."""
    allowed = set(_allowed(room, caller))
    caller.residents.update(residents)
    refused = sorted(set(residents) - allowed)
    if refused:
        client = caller.client
        raise RefusalError(
            403,
            "forbidden",
            f"no consent in force for Patient/{refused[0]} to organisation"
            f" {client.organisation} for purpose {client.purpose}",
        )
    return residents


def _filter(search: ObservationSearch, residents: list[str]) -> ObservationFilter:
    return ObservationFilter(
        residents=residents,
        codes=search.codes,
        effective_from_us=search.effective.lower,
        effective_to_us=search.effective.upper,
        received_from_us=search.updated.lower,
        received_to_us=search.updated.upper,
    )


def _in_categories(resource: dict[str, Any], wanted: list[tuple[str | None, str]]) -> bool:
    codings = [c for cat in resource.get("category", []) for c in cat.get("coding", [])]
    return any(
        c.get("code") == code and system in {None, c.get("system")}
        for system, code in wanted
        for c in codings
    )


def _page(
    room: FhirRoom, search: ObservationSearch, residents: list[str]
) -> tuple[list[tuple[PagedObservation, dict[str, Any]]], bool]:
    """Up to ``count`` matching observations after the cursor, and whether more follow."""
    query = _filter(search, residents)
    found: list[tuple[PagedObservation, dict[str, Any]]] = []
    after = search.after
    while len(found) <= search.count:
        batch = observation_page(room.conn, query, after, search.count + 1)
        for item in batch:
            resource = observation(item.stored, _received(item))
            if search.categories is None or _in_categories(resource, search.categories):
                found.append((item, resource))
        if len(batch) <= search.count:
            break
        after = batch[-1].position
    return found[: search.count], len(found) > search.count


def _received(item: PagedObservation) -> Any:
    return item.stored.received


def _links(base: str, params: list[tuple[str, str]], cursor: str | None) -> dict[str, str]:
    kept = [(k, v) for k, v in params if k != "_cursor"]
    links = {"self": f"{base}/Observation?{urlencode(params)}"}
    if cursor is not None:
        links["next"] = f"{base}/Observation?{urlencode([*kept, ('_cursor', cursor)])}"
    return links


def search_observations(
    room: FhirRoom, caller: Caller, params: list[tuple[str, str]], base: str
) -> dict[str, Any]:
    """``GET [base]/Observation?...``: a searchset Bundle, one page."""
    try:
        search = parse_observation_search(params)
    except SearchError as exc:
        raise RefusalError(
            400, "not-supported" if "not supported" in str(exc) else "invalid", str(exc)
        ) from exc
    if search.patients is not None:
        residents = _consented(room, caller, search.patients)
    else:
        residents = _allowed(room, caller)
    matches, more = _page(room, search, residents)
    entries: list[tuple[dict[str, Any], str]] = [(res, "match") for _, res in matches]
    if search.include_device:
        devices = {item.stored.reading.source.device.id: item for item, _ in matches}
        entries += [(device(item.stored), "include") for item in devices.values()]
    caller.residents.update(item.stored.resident_id or "" for item, _ in matches)
    caller.residents.discard("")
    caller.returned = len(entries)
    cursor = encode_cursor(matches[-1][0].position) if more and matches else None
    return bundle(entries, base, _links(base, params, cursor), caller.now)


def _patient(room: FhirRoom, caller: Caller, resident_id: str) -> dict[str, Any]:
    view = resident_view(room.conn, resident_id, None)
    name = view.name if view is not None else ""
    organisation = view.organisation if view is not None else None
    return patient(resident_id, name, organisation, caller.client.purpose)


def read_patient(room: FhirRoom, caller: Caller, resident_id: str) -> dict[str, Any]:
    """``GET [base]/Patient/{id}``."""
    _consented(room, caller, [resident_id])
    caller.returned = 1
    return _patient(room, caller, resident_id)


def search_patients(
    room: FhirRoom, caller: Caller, params: list[tuple[str, str]], base: str
) -> dict[str, Any]:
    """``GET [base]/Patient[?_id=...]``: the residents a consent lets the caller see."""
    unknown = [k for k, _ in params if k not in {"_id", "_format"}]
    if unknown:
        raise RefusalError(400, "not-supported", f"search parameter {unknown[0]}: not supported")
    wanted = [v for k, value in params if k == "_id" for v in value.split(",")]
    residents = _consented(room, caller, wanted) if wanted else _allowed(room, caller)
    caller.residents.update(residents)
    entries = [(_patient(room, caller, r), "match") for r in residents]
    caller.returned = len(entries)
    return bundle(entries, base, {"self": f"{base}/Patient?{urlencode(params)}"}, caller.now)


def read_device(room: FhirRoom, caller: Caller, device_id: str) -> dict[str, Any]:
    """``GET [base]/Device/{id}``: a device that measured a consented resident (``id``: its
    FHIR id, :mod:`hub.fhir.ids`)."""
    own_id = device_of_fhir_id(room.conn, device_id)
    allowed = _allowed(room, caller)
    stored = None if own_id is None else latest_of_device(room.conn, own_id, allowed)
    if stored is None:
        raise RefusalError(
            404, "not-found", f"Device/{device_id}: no such device of a consented resident"
        )
    if stored.resident_id:
        caller.residents.add(stored.resident_id)
    caller.returned = 1
    return device(stored)
