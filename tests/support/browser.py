"""Dashboard test support: a seeded world (two organisations, residents, devices, users),
an app built on a real Hub's SQLite file for TestClient tests, and a headless Chromium.

The world:

* organisation ``org-a`` (team ``team-a``, home ``home-a`` "Solsikkevej 4", gateway
  ``gw-a``): resident Anna Jensen, thermometer ``dev-thermo`` whose registry name contains a
  ``<script>`` tag, pulse oximeter ``dev-oxi``; users ``sara`` (care staff) and ``ida``
  (administrator);
* organisation ``org-b`` (team ``team-b``, home ``home-b``, gateway ``gw-b``): resident Bent
  Hansen; user ``bo`` (care staff).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from foundation.clock import ManualClock
from hub.alerts.config import parse_rules
from hub.alerts.engine import AlertEngine
from hub.alerts.inputs import ObservationInput
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.alerts.store import AlertStore
from hub.auth import Authenticator, LoginThrottle, Role, UserStore, fast_hasher, install_auth
from hub.config import HttpSettings, HubSettings, IngestSettings
from hub.registry.core import Registry
from hub.service import Hub
from hub.store.base import StoredObservation
from hub.web.routes import install_dashboard
from schemas.builders import make_observation
from schemas.models import DeviceInfo, GatewayStatus, Observation, Source, StatusKind
from tests.support.hub_db import HubDatabases

__all__ = [
    "CHROMIUM_ARGS",
    "EVIL_NAME",
    "PASSWORD",
    "RULES",
    "T0",
    "FastWorld",
    "launch_chromium",
    "seed_registry",
    "seed_users",
]

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Copenhagen
PASSWORD = "korrekt-hest-batteri"
EVIL_NAME = '<script>document.title="pwned"</script> Termometer'
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

RULES = """
[escalation.care]
repeat_seconds = 300
steps = [
  { responder = "team:day", ack_deadline_seconds = 600 },
  { responder = "team:lead", ack_deadline_seconds = 900 },
]

[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">"
value = 38.5
severity = "high"
summary = "Feber"
escalation = "care"

[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
severity = "critical"
summary = "Lav iltmætning"
escalation = "care"
"""


@dataclass(frozen=True, slots=True)
class Residents:
    anna: str
    bent: str


def seed_registry(registry: Registry, at: datetime) -> Residents:
    registry.add_organisation("org-a", "Aarhus Kommune")
    registry.add_organisation("org-b", "Bornholms Regionskommune")
    registry.add_team("team-a", "org-a", "Hjemmeplejen Nord")
    registry.add_team("team-b", "org-b", "Hjemmeplejen Øst")
    registry.add_home("home-a", "Solsikkevej 4", "team-a")
    registry.add_home("home-b", "Strandvejen 12", "team-b")
    registry.add_publisher("gw-a", "gateway", "home-a")
    registry.add_publisher("gw-b", "gateway", "home-b")
    anna = registry.add_resident("Anna Jensen", "home-a", resident_id="r-anna")
    bent = registry.add_resident("Bent Hansen", "home-b", resident_id="r-bent")
    registry.add_device("dev-thermo", EVIL_NAME)
    registry.add_device("dev-oxi", "Pulsoximeter")
    registry.add_device("dev-bent", "Termometer")
    start = at - timedelta(days=8)
    registry.assign("dev-thermo", anna.id, start)
    registry.assign("dev-oxi", anna.id, start)
    registry.assign("dev-bent", bent.id, start)
    return Residents(anna.id, bent.id)


def seed_users(users: UserStore) -> None:
    users.create_user("sara", PASSWORD, Role.CARE_STAFF, "org-a", display_name="Sara Nielsen")
    users.create_user("ida", PASSWORD, Role.ADMIN, "org-a", display_name="Ida Admin")
    users.create_user("bo", PASSWORD, Role.CARE_STAFF, "org-b", display_name="Bo Berg")


def observation(key: str, value: str, at: datetime, device: str, publisher: str) -> Observation:
    source = Source(publisher=publisher, gateway=publisher, device=DeviceInfo(id=device))
    return make_observation(
        key, source=source, effective=at, instant=f"{at.isoformat()}#{device}", value=value
    )


def gateway_status(publisher: str, at: datetime) -> GatewayStatus:
    return GatewayStatus.model_validate(
        {
            "publisher": publisher,
            "kind": StatusKind.HEARTBEAT,
            "online": True,
            "time": at,
            "software": "hjem-edge 0.1.0",
            "outbox_depth": 3,
            "outbox_dropped": 0,
            "adapters": [{"name": "hci0", "state": "scanning", "adverts_per_minute": 120}],
            "devices": [
                {"id": "dev-thermo", "last_seen": at, "rssi_dbm": -67, "battery_percent": 81},
                {"id": "dev-oxi", "last_seen": at, "rssi_dbm": -74, "battery_percent": 12},
            ],
        }
    )


class FastWorld:
    """A Hub's database and components (not running) with the dashboard app on top."""

    def __init__(
        self, tmp_path: Path, rules: str = RULES, *, databases: HubDatabases | None = None
    ) -> None:
        """``databases``: the test's hub database on either engine (else a SQLite file)."""
        self.clock = ManualClock(T0)
        fields: dict[str, Any] = {
            "http": HttpSettings(enabled=False),
            "ingest": IngestSettings(sqlite_synchronous="normal"),
            "alerts": AlertSettings(enabled=False, mqtt=False),  # its own engine below
        }
        settings = (
            HubSettings(database=tmp_path / "hub.sqlite3", **fields)
            if databases is None
            else databases.settings(**fields)
        )
        self.hub = Hub(settings, clock=self.clock.now, mqtt=False)
        self.hub.open()
        self.residents = seed_registry(self.hub.registry, T0)
        self.users = UserStore(self.hub.conn, self.clock, fast_hasher())
        seed_users(self.users)
        self.auth = Authenticator(self.users, LoginThrottle(self.clock))
        engine = AlertEngine(parse_rules(rules), AlertStore(self.hub.conn), self.clock)
        self.alerts = AlertService(engine, AlertSettings(mqtt=False))
        self.app = build_app(self.hub, self.auth, self.alerts)

    def store(self, key: str, value: str, at: datetime, *, device: str = "dev-thermo") -> None:
        """Store an observation of Anna's (or Bent's, for ``dev-bent``) and evaluate alerts."""
        publisher = "gw-b" if device == "dev-bent" else "gw-a"
        obs = observation(key, value, at, device, publisher)
        resident = self.hub.registry.resolve(device, at)
        home, org = ("home-b", "org-b") if device == "dev-bent" else ("home-a", "org-a")
        self.hub.store.write([StoredObservation(obs, publisher, resident, at)])
        self.alerts.engine.observe([ObservationInput(obs, resident, home, org)])

    def gateway(self, publisher: str = "gw-a") -> None:
        self.hub.gateways.record(gateway_status(publisher, self.clock.now()), self.clock.now())

    def close(self) -> None:
        self.hub.store.close()
        self.hub.conn.close()


def build_app(hub: Hub, auth: Authenticator, alerts: AlertService) -> FastAPI:
    from hub.app import create_app

    app = create_app(hub)
    install_auth(app, auth)
    install_dashboard(app, alerts=alerts)
    return app


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def batch_of(publisher: str, observations: list[Observation], tag: str) -> bytes:
    """One MQTT message with these observations, as a gateway sends it."""
    from schemas.models import Batch, encode

    return encode(
        Batch(
            message_id=f"m-{tag}",
            publisher=publisher,
            sent=datetime.now(UTC),
            observations=observations,
        )
    )


def status_payload(publisher: str, at: datetime) -> bytes:
    from schemas.models import encode

    return encode(gateway_status(publisher, at))
