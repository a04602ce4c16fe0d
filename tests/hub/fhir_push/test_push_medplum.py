"""The push exporter in a running hub against Medplum's FHIR server (tests/support/medplum.py):
observations stored by the hub arrive once, valid by Medplum's validator, only for residents
who consented; a resent batch creates nothing twice; a recipient that is stopped and started
again loses nothing; SMART Backend Services works against a real token endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import ECKey

from foundation.clock import utcnow
from hub.admin.audit import admin_actions
from hub.config import HttpSettings, HubSettings, IngestSettings
from hub.fhir.consent import Consents
from hub.fhir.push.bundle import push_bundle, take
from hub.fhir.push.outbox import RecipientState
from hub.fhir.push.settings import FhirPushSettings, PushRecipient
from hub.fhir.push.wiring import PushWiring
from hub.service import Hub
from hub.store.base import StoredObservation
from schemas.builders import component, make_observation
from schemas.codes import codes
from schemas.models import Batch, DeviceInfo, Observation, Source, encode
from schemas.validation import validate_batch
from tests.hub.conftest import eventually
from tests.hub.fhir_push.helpers import (
    ANNA,
    BENT,
    CUFF,
    DEVICES,
    HOSPITAL,
    VENDOR,
    pushed_ids,
    reading,
    setup_registry,
)
from tests.hub.helpers import NO_ALERTS
from tests.support.medplum import MedplumServer, start_medplum

pytestmark = pytest.mark.asyncio

START = utcnow().replace(microsecond=0) - timedelta(hours=2)
DEADLINE_S = 60.0
EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "valid"


def _settings(tmp_path: Path, base: str, auth: dict[str, Any]) -> HubSettings:
    recipient = PushRecipient.model_validate(
        {
            "name": "hospital",
            "organisation": HOSPITAL,
            "base_url": base,
            "auth": auth,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
        }
    )
    return HubSettings(
        database=tmp_path / "hub.sqlite3",
        http=HttpSettings(enabled=False),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=NO_ALERTS,
        fhir_push=FhirPushSettings(recipients=(recipient,), idle_s=0.2),
    )


async def _running_hub(settings: HubSettings) -> AsyncIterator[Hub]:
    hub = Hub(settings, mqtt=False)
    hub.open()
    setup_registry(hub.registry, start=START)
    Consents(hub.conn).add(ANNA, HOSPITAL, "TREAT", START - timedelta(days=1), None, actor="t")
    async with hub:
        yield hub


@pytest_asyncio.fixture
async def hub(tmp_path: Path, medplum: MedplumServer) -> AsyncIterator[Hub]:
    token = tmp_path / "hospital.token"
    token.write_text(medplum.token, encoding="utf-8")
    auth = {"kind": "bearer", "token_file": str(token)}
    async for running in _running_hub(_settings(tmp_path, medplum.base, auth)):
        yield running


def _push(hub: Hub) -> PushWiring:
    assert hub.push is not None
    return hub.push


def _state(hub: Hub) -> RecipientState:
    return _push(hub).exporter.outbox.state("hospital")


async def _ingest(hub: Hub, readings: list[Observation], tag: str) -> None:
    payload = encode(
        Batch(message_id=f"m-{tag}", publisher=VENDOR, sent=utcnow(), observations=readings)
    )
    processed = await hub.ingest_http(VENDOR, payload)
    assert len(processed.stored) == len(readings)


async def _until(hub: Hub, check: Callable[[RecipientState], bool], what: str) -> None:
    await eventually(lambda: check(_state(hub)), timeout=DEADLINE_S, what=what)


def _anna(count: int, offset: int = 0) -> list[Observation]:
    thermo = [reading(DEVICES[ANNA], offset + i, start=START) for i in range(count)]
    return thermo + [reading(CUFF, offset + i, start=START) for i in range(count // 2)]


async def test_consented_observations_arrive_once_and_valid(
    hub: Hub, medplum: MedplumServer
) -> None:
    anna = _anna(10)
    bent = [reading(DEVICES[BENT], i, start=START) for i in range(5)]
    await _ingest(hub, anna + bent, "first")
    await _until(hub, lambda s: s.sent == len(anna) and s.queued == 0, "delivery")
    assert pushed_ids(medplum) == sorted(o.id for o in anna)
    patients = medplum.resources("Patient")
    assert [p["identifier"][0]["value"] for p in patients] == [ANNA]
    subjects = {o["subject"]["reference"] for o in medplum.resources("Observation")}
    assert subjects == {f"Patient/{patients[0]['id']}"}
    stats = medplum.stats()
    assert stats["refused"] == 0, json.dumps(stats["outcomes"])[:2000]
    assert stats["received"] > len(anna)

    # the same observations queued and sent again: Medplum creates nothing new
    again = [StoredObservation(o, VENDOR, ANNA, utcnow()) for o in anna]
    assert _push(hub).exporter.enqueue(again) == len(anna)
    await _until(hub, lambda s: s.sent == 2 * len(anna) and s.queued == 0, "the resend")
    assert pushed_ids(medplum) == sorted(o.id for o in anna)
    assert medplum.count("Device") == 3  # the vendor's gateway entry, thermometer and cuff
    assert medplum.stats()["refused"] == 0


async def test_a_recipient_outage_loses_nothing(hub: Hub, medplum: MedplumServer) -> None:
    before = _anna(4)
    await _ingest(hub, before, "before")
    await _until(hub, lambda s: s.sent == len(before), "the first delivery")
    medplum.stop()
    during = _anna(6, offset=100)
    await _ingest(hub, during, "during")
    await _until(hub, lambda s: s.failures >= 3, "failed attempts while the server is down")
    state = _state(hub)
    assert (state.queued, state.sent) == (len(during), len(before))
    metrics = hub.metrics.render().decode()
    assert f'hjem_fhir_push_queue{{recipient="hospital"}} {len(during)}.0' in metrics
    medplum.restart()
    await _until(hub, lambda s: s.queued == 0, "delivery after the restart")
    assert pushed_ids(medplum) == sorted(o.id for o in before + during)
    assert _state(hub).consecutive_failures == 0
    assert medplum.stats()["refused"] == 0
    actions = [a.action for a in admin_actions(hub.conn, frozenset({HOSPITAL}))]
    assert {"fhir_push_failing", "fhir_push_recovered", "fhir_push_sent"} <= set(actions)


async def test_smart_backend_services(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-384", private=True)
    jwks = tmp_path / "jwks.json"
    public = key.as_dict(private=False)
    jwks.write_text(json.dumps({"keys": [{**public, "kid": "hub-1"}]}), encoding="utf-8")
    pem = tmp_path / "hub-key.pem"
    pem.write_bytes(key.as_pem(private=True))
    server = start_medplum(tmp_path / "medplum", ["--jwks", str(jwks), "--client-id", "hjem-hub"])
    try:
        auth = {
            "kind": "smart",
            "token_url": server.token_url,
            "client_id": "hjem-hub",
            "private_key_file": str(pem),
            "key_id": "hub-1",
            "algorithm": "ES384",
        }
        async for hub in _running_hub(_settings(tmp_path, server.base, auth)):
            readings = _anna(3)
            await _ingest(hub, readings, "smart")
            await _until(hub, lambda s: s.sent == 4, "delivery with SMART")
            assert pushed_ids(server) == sorted(o.id for o in readings)
            assert server.stats()["unauthorised"] == 0
    finally:
        server.stop()


def _every_measure() -> list[Observation]:
    """A reading of every measure of the codes table (in its first unit)."""
    out = []
    source = Source(publisher=VENDOR, device=DeviceInfo(id="every-measure"))
    for index, measure in enumerate(codes()):
        when = START + timedelta(seconds=index)
        if measure.kind == "compound":
            parts = [component(key, "90") for key in measure.components]
            out.append(
                make_observation(measure.key, source=source, effective=when, components=parts)
            )
        elif measure.kind == "boolean":
            out.append(
                make_observation(measure.key, source=source, effective=when, value_boolean=True)
            )
        elif measure.kind == "event":
            code = measure.events[0]
            out.append(
                make_observation(measure.key, source=source, effective=when, value_code=code)
            )
        for unit in measure.units[:1]:  # the others change only codes and unit strings
            low, high = measure.ranges[unit]
            value = f"{(low + high) / 3:.2f}"
            out.append(
                make_observation(measure.key, source=source, effective=when, value=value, unit=unit)
            )
    return out


async def test_every_reading_passes_medplums_validator(medplum: MedplumServer) -> None:
    """The Bundle a push sends, for every valid example of the contract and a reading of every
    measure (room sensors, buttons, absent values, blood pressure, ...), is
    accepted by Medplum's validator as it is."""
    examples = [
        obs
        for path in sorted(EXAMPLES.glob("*.json"))
        for obs in validate_batch(path.read_text(encoding="utf-8"), now=utcnow()).accepted
    ]
    readings = examples + _every_measure()
    assert len(readings) > len(codes())
    picks = [(obs, ANNA) for obs in readings]
    async with httpx.AsyncClient(timeout=30) as http:
        while picks:
            count = take(picks, 8)  # Medplum's limit for conditional creates in a transaction
            response = await http.post(
                medplum.base,
                content=push_bundle(picks[:count]),
                headers={"Authorization": f"Bearer {medplum.token}"},
            )
            assert response.status_code == 200, response.text[:2000]
            picks = picks[count:]
    assert medplum.stats()["refused"] == 0
    assert len(pushed_ids(medplum)) == len({o.id for o in readings})
