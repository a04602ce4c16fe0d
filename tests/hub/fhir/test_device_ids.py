"""Device ids that are not FHIR ids (``:``, ``_``, longer than 64 characters) get a stable
FHIR id (``h-`` + 40 hex digits of their SHA-256) in every reference, and ``Device/{that id}``
reads the device, with its own id in the identifier; a real hub, a real SMART client."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from hub.fhir.clients import FhirClients
from hub.fhir.consent import Consents
from hub.fhir.ids import device_fhir_id, device_of_fhir_id
from hub.registry.core import Registry
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.support.fhir import DAY0, Keys, ThreadedHub, assertion, make_keys, prepare_registry
from tests.support.hub_db import ENGINES, HubDatabases, engine_databases

pytestmark = pytest.mark.slow
ODD = "ble:00:A0:50:12:34:56_" + "x" * 70
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def test_ids_are_valid_stable_and_distinct() -> None:
    assert device_fhir_id("dev-anna.1") == "dev-anna.1"  # a valid id is its own
    odd = device_fhir_id(ODD)
    assert FHIR_ID.fullmatch(odd)
    assert odd == device_fhir_id(ODD)  # stable
    assert odd == "h-" + hashlib.sha256(ODD.encode()).hexdigest()[:40]
    others = {device_fhir_id(x) for x in ("a:b", "a_b", "a" * 65, "a" * 66, "x:" + ODD)}
    assert len(others) == 5
    assert all(FHIR_ID.fullmatch(i) for i in others)


@dataclass(frozen=True, slots=True)
class Stand:
    hub: ThreadedHub
    databases: HubDatabases
    anna: str
    headers: dict[str, str]


@pytest.fixture(scope="module", params=ENGINES)
def stand(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stand]:
    with engine_databases(request, tmp_path_factory.mktemp("ids")) as databases:
        yield from _stand(databases)


def _stand(databases: HubDatabases) -> Iterator[Stand]:
    residents, vendor = prepare_registry(databases)
    anna = residents["Anna"]
    keys = make_keys()
    conn = databases.open()
    registry = Registry(conn)
    registry.add_device(ODD)
    registry.bind(ODD, "vendor-x", DAY0 - timedelta(days=1))
    registry.assign(ODD, anna, DAY0 - timedelta(hours=1))
    FhirClients(conn).add("hospital-app", "hospital", keys.jwks(), purpose="TREAT", actor="t")
    Consents(conn).add(anna, "hospital", "TREAT", DAY0 - timedelta(days=1), None, actor="t")
    with ThreadedHub(databases) as hub:
        _send(hub.base, vendor)
        yield Stand(hub, databases, anna, _bearer(hub.base, keys))


def _send(base: str, token: str) -> None:
    source = Source(publisher="vendor-x", device=DeviceInfo(id=ODD, manufacturer="Acme"))
    reading = make_observation("body_temperature", source=source, effective=DAY0, value="37.20")
    batch = Batch(message_id="m-odd", publisher="vendor-x", sent=DAY0, observations=[reading])
    answer = httpx.post(
        f"{base}/api/v1/observations",
        content=encode(batch),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def _bearer(base: str, keys: Keys) -> dict[str, str]:
    token_url = f"{base}/fhir/auth/token"
    answer = httpx.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(keys, "hospital-app", token_url),
            "scope": "system/Observation.rs system/Device.rs",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_references_and_device_read_use_the_fhir_id(stand: Stand) -> None:
    base = f"{stand.hub.base}/fhir"
    found = httpx.get(
        f"{base}/Observation",
        params={"patient": stand.anna, "_include": "Observation:device"},
        headers=stand.headers,
        timeout=30,
    ).json()
    odd_id = device_fhir_id(ODD)
    references = {e["resource"].get("device", {}).get("reference") for e in found["entry"]}
    assert f"Device/{odd_id}" in references
    included = [e for e in found["entry"] if e["search"]["mode"] == "include"]
    assert {e["resource"]["id"] for e in included} == {odd_id}
    assert included[0]["fullUrl"] == f"{base}/Device/{odd_id}"

    read = httpx.get(f"{base}/Device/{odd_id}", headers=stand.headers, timeout=30)
    assert read.status_code == 200, read.text
    device = read.json()
    assert device["id"] == odd_id
    assert {"system": "urn:hjem:device", "value": ODD} in device["identifier"]
    assert json.dumps(device) == json.dumps(included[0]["resource"])

    raw = httpx.get(f"{base}/Device/{ODD}", headers=stand.headers, timeout=30)
    assert raw.status_code == 404  # the device id itself is not a FHIR id
    unknown = httpx.get(f"{base}/Device/h-{'0' * 40}", headers=stand.headers, timeout=30)
    assert unknown.status_code == 404


def test_device_of_fhir_id_resolves_registered_devices(stand: Stand) -> None:
    conn = stand.databases.open()
    try:
        assert device_of_fhir_id(conn, device_fhir_id(ODD)) == ODD
        assert device_of_fhir_id(conn, "dev-anna") == "dev-anna"
        assert device_of_fhir_id(conn, ODD) is None
    finally:
        conn.close()
