"""Every shipped rules file fires on every incident the virtual radio can produce (issue 13).

Each rules file under deploy/ and the demo's are loaded into a real hub (real Mosquitto,
SQLite) fed by the real edge agent on the virtual radio: a resident with an alarm pendant
and two more BTHome sensors (the third in the kitchen), a pulse oximeter and a thermometer.
The radio's scripted incidents (low SpO2, fever, a fall the pendant reports as a button
press, no movement) and faults (a low battery, the gateway stopping) must each raise the
alert of the file's rule for it.

Time: the shipped files keep their production times (SpO2 pending 5 min, an inactivity window
07:00-10:00, a gateway grace). Rather than copies with shorter times, hub and edge share one
clock that the test moves forward: the hub learns the resident at 06:59 (before the window),
runs from 09:57, and the clock jumps past the pending time and 10:00, and past the grace after
the gateway stops. The hub's own gateway timeout is raised to an hour so that a jump does
not make the gateway look offline before it stops (that alert must come from the stop).
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.agent import Agent
from edge.config import parse_config
from hjem.demo_home import RULES_TOML
from hjem.mosquitto import Mosquitto
from hub.admin.provision import DEPLOY_DIR
from hub.alerts.config import EventRule, GatewayOfflineRule, RulesConfig, parse_rules
from hub.alerts.settings import AlertSettings
from hub.alerts.store import AlertStore
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.db import open_db
from hub.registry.core import Registry
from hub.service import Hub
from sim.devices import VirtualDevice
from tests.support.edge import agent_config_dict, device_list

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ZONE = ZoneInfo("Europe/Copenhagen")
GATEWAY = "gw1"
RESIDENT = "res-1"
KINDS = ("bthome", "bthome", "bthome", "pulse_oximeter", "thermometer")
PENDANT, _, KITCHEN, _, _ = (d["address"] for d in device_list(KINDS))


def _shipped() -> list[tuple[str, str]]:
    """(name, text) of every rules file in deploy/ (a TOML file with [[rule]]) and the demo's."""
    out = []
    for path in sorted(DEPLOY_DIR.rglob("*.toml")):
        text = path.read_text(encoding="utf-8")
        if "rule" in tomllib.loads(text):
            out.append((str(path.relative_to(DEPLOY_DIR.parent)), text))
    return [*out, ("hjem/demo_home.py RULES_TOML", RULES_TOML)]


SHIPPED = _shipped()


def test_the_shipped_rules_files_are_found() -> None:
    assert [name for name, _ in SHIPPED] == [
        "deploy/alerts.example.toml",
        "hjem/demo_home.py RULES_TOML",
    ]


class ShiftClock:
    """Real time moved by a shift the test sets: shared by the hub and the edge agent."""

    def __init__(self, local: datetime) -> None:
        self.shift = timedelta()
        self.set(local)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def set(self, local: datetime) -> None:
        self.shift = local.astimezone(UTC) - datetime.now(UTC)

    def jump(self, seconds: float) -> None:
        self.shift += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Expected:
    pendant: str
    low_spo2: str
    fever: str
    inactivity: str
    gateway_offline: str
    battery_low: str
    spo2_pending_s: float
    grace_s: float
    kitchen: str


def _one(config: RulesConfig, what: str, match: object) -> str:
    found = [r for r in config.rules if r.enabled and match(r)]  # type: ignore[operator]
    assert len(found) == 1, f"want one enabled rule for {what}, found {[r.id for r in found]}"
    return found[0].id


def _watches(rule: object, kind: str, measure: str) -> bool:
    watch = getattr(rule, "watch", None)
    return getattr(rule, "kind", None) == kind and watch is not None and watch.measure == measure


def expected(config: RulesConfig) -> Expected:
    """The rule each incident must raise; a file without one fails here."""

    def threshold(measure: str, ops: tuple[str, ...]) -> str:
        return _one(
            config, measure, lambda r: _watches(r, "threshold", measure) and r.operator in ops
        )

    spo2 = config.rule(threshold("spo2", ("<", "<=")))
    inactivity = config.rule(
        _one(config, "inactivity", lambda r: _watches(r, "inactivity", "motion"))
    )
    offline = config.rule(_one(config, "gateway offline", lambda r: r.kind == "gateway_offline"))
    assert isinstance(offline, GatewayOfflineRule)
    return Expected(
        pendant=_one(
            config,
            "the pendant",
            lambda r: (
                isinstance(r, EventRule) and _watches(r, "event", "button") and "press" in r.codes
            ),
        ),
        low_spo2=spo2.id,  # type: ignore[union-attr]
        fever=threshold("body_temperature", (">", ">=")),
        inactivity=inactivity.id,  # type: ignore[union-attr]
        gateway_offline=offline.id,
        battery_low=_one(config, "battery low", lambda r: r.kind == "battery_low"),
        spo2_pending_s=spo2.pending_seconds,  # type: ignore[union-attr]
        grace_s=offline.grace_seconds,
        kitchen=inactivity.room or "kitchen",  # type: ignore[union-attr]
    )


def _seed(database: Path, kitchen: str, since: datetime) -> None:
    conn = open_db(database)
    try:
        registry = Registry(conn)
        registry.add_organisation("org-1", "Kommune")
        registry.add_team("team-1", "org-1", "Hjemmeplejen")
        registry.add_home("home-1", "Hjem 1", "team-1")
        registry.add_publisher(GATEWAY, "gateway", "home-1")
        registry.add_resident("Anna", "home-1", resident_id=RESIDENT)
        names = {PENDANT: "nødkaldsknap", KITCHEN: kitchen}
        for device in device_list(KINDS):
            address = str(device["address"])
            device_id = "ble-" + address.replace(":", "").lower()
            registry.add_device(device_id, names.get(address, str(device["kind"])))
            registry.assign(device_id, RESIDENT, since)
    finally:
        conn.close()


class Alerts:
    def __init__(self, hub: Hub) -> None:
        self.store = AlertStore(hub.conn)

    def open(self) -> set[str]:
        return {a.rule for a in self.store.open_alerts() if a.resident in (RESIDENT, None)}

    async def wait(self, rule: str, what: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while rule not in self.open():
            assert time.monotonic() < deadline, f"no {rule!r} alert for {what}: {self.open()}"
            await asyncio.sleep(0.1)


async def _low_spo2_stored(hub: Hub, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    query = "SELECT COUNT(*) FROM observation WHERE code = '150456' AND value < 92"  # SpO2 %
    while not hub.conn.execute(query).fetchone()[0]:
        assert time.monotonic() < deadline, "no low SpO2 reading stored"
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "text"), SHIPPED, ids=[n for n, _ in SHIPPED])
async def test_every_incident_raises_its_alert(
    name: str, text: str, broker: Mosquitto, tmp_path: Path
) -> None:
    want = expected(parse_rules(text, source=name))
    rules = tmp_path / "alerts.toml"
    rules.write_text(text, encoding="utf-8")
    today = datetime.now(ZONE).date()
    clock = ShiftClock(_local(today, 6, 59))
    _seed(tmp_path / "hub.sqlite3", want.kitchen, clock.now() - timedelta(days=1))
    settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=MqttSettings(url=broker.url, client_id="hub-shipped-rules"),
        http=HttpSettings(enabled=False),
        ingest=IngestSettings(sqlite_synchronous="normal", gateway_timeout_s=3600),
        alerts=AlertSettings(rules_file=rules, tick_seconds=0.2),
    )
    hub = Hub(settings, clock=clock.now)
    hub.open()  # learns the resident at 06:59, before the window
    clock.set(_local(today, 9, 57))
    edge = parse_config(
        agent_config_dict(
            tmp_path / "edge",
            broker.port,
            devices=device_list(KINDS),
            virtual={
                "incidents": [
                    {"kind": kind, "at_s": 0, "duration_s": 7200}
                    for kind in ("inactivity", "low_spo2", "fever")
                ]
                + [{"kind": "fall", "at_s": 3, "duration_s": 60}],
            },
        )
    )
    async with hub:
        alerts = Alerts(hub)
        async with Agent(edge, clock=clock.now) as agent:
            pendant: VirtualDevice = agent.radio.devices[PENDANT]
            pendant.battery_percent = 9  # the fault: its next advert says 9 %
            await alerts.wait(want.pendant, "the pendant's press")
            await alerts.wait(want.fever, "the fever")
            await alerts.wait(want.battery_low, "the low battery")
            await _low_spo2_stored(hub)
            assert want.inactivity not in alerts.open()  # the window is not over yet
            # low SpO2 for longer than its pending time, and the window 07:00-10:00 over
            to_ten = (_local(today, 10, 0) - clock.now()).total_seconds()
            clock.jump(max(want.spo2_pending_s, to_ten) + 1)
            await alerts.wait(want.low_spo2, "the low SpO2")
            await alerts.wait(want.inactivity, "no movement 07:00-10:00")
            assert want.gateway_offline not in alerts.open()
        # the agent stopped: its death status reaches the hub, the grace passes
        await asyncio.sleep(1.0)
        clock.jump(want.grace_s + 1)
        await alerts.wait(want.gateway_offline, "the gateway stopping")


def _local(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def test_the_shipped_hub_configurations_load_the_shipped_rules() -> None:
    """deploy/hub.example.toml and the compose hub.toml name /etc/hjem/alerts.toml, which the
    compose image fills with deploy/alerts.example.toml; the demo writes and names its own."""
    from hjem.demo_home import hub_config_toml
    from hub.config import load_settings

    for config in (DEPLOY_DIR / "hub.example.toml", DEPLOY_DIR / "compose" / "hub.toml"):
        alerts = load_settings(config).alerts
        assert (alerts.enabled, alerts.rules_file) == (True, Path("/etc/hjem/alerts.toml"))
    dockerfile = (DEPLOY_DIR / "compose" / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY deploy/alerts.example.toml /etc/hjem/alerts.toml" in dockerfile.splitlines()
    demo = tomllib.loads(hub_config_toml(Path("/d/hub.sqlite3"), Path("/d/alerts.toml"), 1, 2))
    assert demo["alerts"]["rules_file"] == "/d/alerts.toml"
    assert "enabled" not in demo["alerts"]  # rules, so alerts on
