"""Benchmark: the hub's FHIR search, observations/s served for one resident's 30 days.

A real hub (HTTP only, uvicorn on 127.0.0.1, SQLite) holds one resident's readings over 30
days (``HJEM_BENCH_FHIR`` of them, default 25,920: temperature, heart rate and SpO2 every 5
minutes), sent through the vendor ingest route. A SMART Backend Services client (ES384
assertion, joserfc) gets a token, and the whole set is fetched page by page
(``_count=1000``, cursor links) with httpx and with fhirpy's ``fetch_all``. Peer floor: the
store's own read of the same observations (:meth:`SqliteStore.observations`, no FHIR, no
HTTP), in the same run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.alerts.settings import AlertSettings
from hub.config import HttpSettings, HubSettings, MqttSettings, RetentionSettings
from hub.db import open_db
from hub.fhir.clients import FhirClients
from hub.fhir.consent import Consents
from hub.registry.core import Registry
from hub.service import Hub
from hub.store.sqlite import SqliteStore
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode

__all__ = ["search_throughput"]

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
RESIDENT = "r-00000000000000b1"
KINDS = (("body_temperature", "36.8"), ("heart_rate", "72"), ("spo2", "97"))


def _registry(database: Path, jwks: dict[str, Any]) -> str:
    conn = open_db(database)
    try:
        registry = Registry(conn)
        for org in ("kommune", "hospital"):
            registry.add_organisation(org, org)
        registry.add_team("team", "kommune", "team")
        registry.add_home("home", team_id="team")
        registry.add_resident("Bench", "home", resident_id=RESIDENT)
        registry.add_publisher("vendor-b", "vendor")
        token = registry.issue_token("vendor-b")
        registry.add_device("dev-b")
        registry.bind("dev-b", "vendor-b", DAY0 - timedelta(days=1))
        registry.assign("dev-b", RESIDENT, DAY0 - timedelta(days=1))
        FhirClients(conn).add("bench", "hospital", jwks, purpose="TREAT", actor="bench")
        Consents(conn).add(RESIDENT, "hospital", "TREAT", DAY0, None, actor="bench")
    finally:
        conn.close()
    return token


def _send(base: str, token: str, count: int) -> None:
    source = Source(publisher="vendor-b", device=DeviceInfo(id="dev-b"))
    step = timedelta(days=30) / count
    with httpx.Client(timeout=60) as http:
        for start in range(0, count, 500):
            readings = [
                make_observation(
                    KINDS[i % 3][0], source=source, effective=DAY0 + step * i, value=KINDS[i % 3][1]
                )
                for i in range(start, min(count, start + 500))
            ]
            batch = Batch(
                message_id=f"m-{start}", publisher="vendor-b", sent=DAY0, observations=readings
            )
            answer = http.post(
                f"{base}/api/v1/observations",
                content=encode(batch),
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()


def _access_token(base: str, key: object) -> str:
    from joserfc import jwt

    token_url = f"{base}/fhir/auth/token"
    claims = {
        "iss": "bench",
        "sub": "bench",
        "aud": token_url,
        "exp": int(time.time()) + 240,
        "jti": uuid.uuid4().hex,
    }
    signed = jwt.encode({"alg": "ES384", "kid": "k"}, claims, key, algorithms=["ES384"])  # type: ignore[arg-type]
    answer = httpx.post(
        token_url,
        timeout=30,
        data={
            "grant_type": "client_credentials",
            "scope": "system/Observation.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _httpx_pages(base: str, token: str) -> int:
    url: str | None = f"{base}/fhir/Observation?patient={RESIDENT}&_count=1000"
    got = 0
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
        while url:
            page = http.get(url).raise_for_status().json()
            got += len(page.get("entry", []))
            url = next((li["url"] for li in page["link"] if li["relation"] == "next"), None)
    return got


def _fhirpy(base: str, token: str) -> int:
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {token}")
    found = client.resources("Observation").search(patient=RESIDENT).limit(1000).fetch_all()
    return len(found)


def _store_read(database: Path) -> int:
    conn = open_db(database)
    try:
        store = SqliteStore(conn, RetentionSettings())
        return len(
            store.observations(start=DAY0, end=DAY0 + timedelta(days=31), resident_id=RESIDENT)
        )
    finally:
        conn.close()


def _serve(settings: HubSettings, ready: list[str], stop: threading.Event) -> None:
    async def run() -> None:
        async with Hub(settings, mqtt=False, alerts=False) as hub:
            ready.append(f"http://127.0.0.1:{hub.http_port}")
            await asyncio.to_thread(stop.wait)

    asyncio.run(run())


def _row(name: str, count: int, work: object) -> None:
    started = time.perf_counter()
    got = work()  # type: ignore[operator]
    took = time.perf_counter() - started
    assert got == count, f"{name}: {got} of {count}"
    print(f"{name:<44} {count:>9,} obs {took:>8.2f} s {count / took:>12,.0f} obs/s")


def search_throughput() -> None:
    from joserfc.jwk import ECKey

    count = int(os.environ.get("HJEM_BENCH_FHIR", "25920"))
    key = ECKey.generate_key("P-384")
    jwks = {"keys": [key.as_dict(private=False, kid="k", alg="ES384")]}
    with tempfile.TemporaryDirectory(prefix="hjem-bench-fhir-") as tmp:
        database = Path(tmp) / "hub.sqlite3"
        vendor = _registry(database, jwks)
        settings = HubSettings(
            database=database,
            http=HttpSettings(port=0),
            mqtt=MqttSettings(url="mqtt://127.0.0.1:1", client_id="bench"),
            alerts=AlertSettings(enabled=False),
        )
        ready: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(target=_serve, args=(settings, ready, stop), daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not ready and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        base = ready[0]
        try:
            _send(base, vendor, count)
            token = _access_token(base, key)
            print(f"one resident, 30 days, {count:,} observations; pages of 1,000")
            _row(
                "hjem /fhir search, httpx (cursor pages)", count, lambda: _httpx_pages(base, token)
            )
            _row("hjem /fhir search, fhirpy fetch_all", count, lambda: _fhirpy(base, token))
            _row("store read, no FHIR/HTTP (peer floor)", count, lambda: _store_read(database))
        finally:
            stop.set()
            thread.join(60)
