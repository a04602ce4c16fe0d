"""A real hub serving /fhir for FHIR clients that block (fhirclient, fhirpy's sync client).

:class:`ThreadedHub` runs ``Hub(settings, mqtt=False)`` with its HTTP server on a free
127.0.0.1 port in a thread of its own (its own event loop), so a test can call blocking
clients from the main thread. :func:`populate` registers organisations, residents, a vendor
and its devices, and sends readings through the vendor HTTP ingest route, as a vendor would.
:func:`assertion` signs a SMART Backend Services client assertion with joserfc.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from hub.alerts.settings import AlertSettings
from hub.config import HttpSettings, MqttSettings
from hub.registry.core import Registry
from hub.service import Hub
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.support.hub_db import HubDatabases

__all__ = ["Keys", "ThreadedHub", "assertion", "make_keys", "prepare_registry", "send_readings"]

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)


class ThreadedHub:
    """A running hub (HTTP only) in a background thread; ``base`` is its URL."""

    def __init__(self, databases: HubDatabases) -> None:
        self.settings = databases.settings(
            mqtt=MqttSettings(url="mqtt://127.0.0.1:1", client_id="hub-fhir-test"),
            http=HttpSettings(port=0),
            alerts=AlertSettings(enabled=False),
        )
        self.base = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fhir-hub", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Hub(self.settings, mqtt=False, alerts=False) as hub:
            self.base = f"http://127.0.0.1:{hub.http_port}"
            await self._stop.wait()

    def __enter__(self) -> ThreadedHub:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self.base:
            if self._error is not None or not self._thread.is_alive():
                raise AssertionError(f"the hub did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise AssertionError("the hub did not start within 60 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the hub thread did not stop"


def prepare_registry(databases: HubDatabases) -> tuple[dict[str, str], str]:
    """Organisations kommune-a (Anna, Bent), kommune-b (Carl), hospital; a vendor whose
    device per resident is bound to it and assigned from DAY0. Returns (residents, token)."""
    conn = databases.open()
    try:
        registry = Registry(conn)
        for org in ("kommune-a", "kommune-b", "hospital", "gp"):
            registry.add_organisation(org, org.title())
        residents = {}
        for team, org, names in (("team-a", "kommune-a", ("Anna", "Bent")),
                                 ("team-b", "kommune-b", ("Carl",))):  # fmt: skip
            registry.add_team(team, org, team)
            registry.add_home(f"home-{team}", team_id=team)
            for name in names:
                rid = f"r-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16]}"
                registry.add_resident(name, f"home-{team}", resident_id=rid)
                residents[name] = rid
        registry.add_publisher("vendor-x", "vendor")
        token = registry.issue_token("vendor-x")
        for name, rid in residents.items():
            device = f"dev-{name.lower()}"
            registry.add_device(device)
            registry.bind(device, "vendor-x", DAY0 - timedelta(days=1))
            registry.assign(device, rid, DAY0 - timedelta(days=1))
    finally:
        conn.close()
    return residents, token


def send_readings(base: str, token: str, name: str, count: int) -> set[str]:
    """``count`` readings (temperature and heart rate, alternately) over 30 days from
    resident ``name``'s device, posted to the vendor ingest route; their ids."""
    source = Source(publisher="vendor-x", device=DeviceInfo(id=f"dev-{name.lower()}"))
    step = timedelta(days=30) / max(count, 1)
    readings = [
        make_observation(
            "body_temperature" if i % 2 == 0 else "heart_rate",
            source=source,
            effective=DAY0 + step * i,
            value="36.8" if i % 2 == 0 else str(60 + i % 30),
        )
        for i in range(count)
    ]
    with httpx.Client(timeout=30) as http:
        for start in range(0, count, 200):
            part = readings[start : start + 200]
            batch = Batch(
                message_id=f"m-{name}-{start}", publisher="vendor-x", sent=DAY0, observations=part
            )
            answer = http.post(
                f"{base}/api/v1/observations",
                content=encode(batch),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["stored"] == len(part), answer.text
    return {r.id for r in readings}


@dataclass(frozen=True, slots=True)
class Keys:
    rsa: RSAKey
    ec: ECKey

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                self.rsa.as_dict(private=False, kid="rsa-1", alg="RS384"),
                self.ec.as_dict(private=False, kid="ec-1", alg="ES384"),
            ]
        }


def make_keys() -> Keys:
    return Keys(RSAKey.generate_key(2048), ECKey.generate_key("P-384"))


def assertion(
    keys: Keys, client_id: str, audience: str, *, ec: bool = False, **overrides: Any
) -> str:
    """A signed client assertion (RS384, or ES384 with ``ec``); ``overrides`` change claims
    (a value None removes the claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    if ec:
        return jwt.encode({"alg": "ES384", "kid": "ec-1"}, claims, keys.ec, algorithms=["ES384"])
    return jwt.encode({"alg": "RS384", "kid": "rsa-1"}, claims, keys.rsa, algorithms=["RS384"])
