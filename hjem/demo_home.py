"""The demo's synthetic world: one care team, three homes, one resident and gateway in each.

Pure data and renderers: the homes with their virtual devices and scripted incidents, the
edge and hub configuration files (as TOML text), the demo alert rules, and the registry seed
(:func:`seed_registry`, the only function that writes, through :class:`hub.registry.core.Registry`).

Each home has its own gateway: one virtual radio drives one resident model, and a real home
has one gateway. Rooms follow the virtual radio's placement (``sim.devices``: the
n-th device of a kind sits in ``ROOMS[n]``; the first BTHome device is the alarm pendant), so
the registry description of every room sensor names the room it really reports from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edge.kinds import KINDS, DeviceKind

if TYPE_CHECKING:
    from hub.registry.core import Registry

__all__ = [
    "HOMES",
    "ORGANISATION",
    "RULES_TOML",
    "TEAM",
    "DemoDevice",
    "DemoHome",
    "DemoIncident",
    "edge_config_toml",
    "hub_config_toml",
    "seed_registry",
    "toml_text",
]

Kind = DeviceKind
"""A device kind of :data:`edge.kinds.KINDS`."""

ORGANISATION = ("org-demo", "Demo Kommune")
TEAM = ("team-demo", "Hjemmeplejen Demo")

# The rooms of sim.resident.ROOMS, in Danish (the dashboard's default language).
ROOM_NAMES: dict[str, str] = {
    "bedroom": "Soveværelse",
    "bathroom": "Badeværelse",
    "kitchen": "Køkken",
    "living_room": "Stue",
    "hallway": "Entré",
}
_HEALTH_NAMES: dict[str, str] = {kind.name: kind.title_da for kind in KINDS if kind.connects}


@dataclass(frozen=True, slots=True)
class DemoIncident:
    kind: Literal["fever", "low_spo2", "fall", "inactivity"]
    at_s: float
    duration_s: float
    what: str  # for the progress line


@dataclass(frozen=True, slots=True)
class DemoDevice:
    address: str
    kind: Kind
    description: str  # registry name; for room sensors the room (inactivity rules match it)

    @property
    def device_id(self) -> str:
        """The id the edge gives it (``edge.config.DeviceConfig.device_id``)."""
        return "ble-" + self.address.replace(":", "").lower()


@dataclass(frozen=True, slots=True)
class DemoHome:
    home_id: str
    label: str
    resident_id: str
    resident_name: str
    gateway_id: str
    seed: int
    kinds: tuple[Kind, ...]
    incidents: tuple[DemoIncident, ...]

    @property
    def devices(self) -> tuple[DemoDevice, ...]:
        number = int(self.gateway_id.rsplit("-", 1)[1])
        counts: dict[str, int] = {}
        out = []
        for n, kind in enumerate(self.kinds):
            index = counts.get(kind, 0)
            counts[kind] = index + 1
            address = f"D0:E0:00:00:{number:02X}:{n + 1:02X}"
            out.append(DemoDevice(address, kind, _description(kind, index)))
        return tuple(out)


def _description(kind: str, index: int) -> str:
    if kind in _HEALTH_NAMES:
        return _HEALTH_NAMES[kind]
    if kind == "bthome" and index == 0:
        return "Nødkaldsknap"
    from sim.resident import ROOMS  # where the virtual radio places it

    return ROOM_NAMES[ROOMS[index % len(ROOMS)]]


_ROOM_SENSORS: tuple[Kind, ...] = ("bthome", "bthome", "bthome", "bthome")  # pendant + 3 rooms

HOMES: tuple[DemoHome, ...] = (
    DemoHome(
        "home-demo-1",
        "Birkevej 3, Aarhus",
        "r-demo-inge",
        "Inge Nielsen",
        "gw-demo-1",
        seed=11,
        kinds=(*_ROOM_SENSORS, "xiaomi", "pulse_oximeter", "thermometer", "blood_pressure"),
        incidents=(DemoIncident("low_spo2", 20, 600, "low SpO2 for Inge Nielsen"),),
    ),
    DemoHome(
        "home-demo-2",
        "Havnegade 7, 2. th., Aarhus",
        "r-demo-poul",
        "Poul Madsen",
        "gw-demo-2",
        seed=22,
        kinds=(*_ROOM_SENSORS, "ruuvi", "pulse_oximeter", "heart_rate", "weight_scale"),
        incidents=(DemoIncident("fall", 40, 300, "a fall (alarm pendant) for Poul Madsen"),),
    ),
    DemoHome(
        "home-demo-3",
        "Skovbrynet 12, Risskov",
        "r-demo-karen",
        "Karen Sørensen",
        "gw-demo-3",
        seed=33,
        kinds=(*_ROOM_SENSORS, "xiaomi", "thermometer", "pulse_oximeter", "glucose"),
        incidents=(DemoIncident("fever", 30, 900, "fever for Karen Sørensen"),),
    ),
)


# --- configuration files (pure) ----------------------------------------------------------------


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def toml_text(data: dict[str, object], header: str = "") -> str:
    """TOML for the nesting these configs use: scalars, tables, arrays of tables (one level)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    nested: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict) or (isinstance(value, list) and value and _tables(value)):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_scalar(value)}")
    for key, value in nested:
        items = value if isinstance(value, list) else [value]
        for item in items:
            assert isinstance(item, dict)
            lines.append(f"\n[[{key}]]" if isinstance(value, list) else f"\n[{key}]")
            for sub_key, sub_value in item.items():
                if isinstance(sub_value, list) and sub_value and _tables(sub_value):
                    for row in sub_value:
                        lines.append(f"\n[[{key}.{sub_key}]]")
                        lines += [f"{k} = {_scalar(v)}" for k, v in row.items()]
                else:
                    lines.append(f"{sub_key} = {_scalar(sub_value)}")
    return "\n".join(lines) + "\n"


def _tables(values: list[object]) -> bool:
    return all(isinstance(v, dict) for v in values)


def edge_config_toml(home: DemoHome, mqtt_port: int, outbox: Path) -> str:
    """``hjem edge run`` configuration of the home's gateway (password from the environment)."""
    data: dict[str, object] = {
        "gateway_id": home.gateway_id,
        "radio": "virtual",
        "heartbeat_interval_s": 15.0,
        "log_level": "INFO",
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{mqtt_port}",
            "username": home.gateway_id,
            "batch_linger_s": 0.5,
            "reconnect_max_s": 5.0,
        },
        "outbox": {"path": str(outbox), "quota_mb": 64.0},
        "gatt": {"max_connections": 4},
        "virtual": {
            "seed": home.seed,
            "advert_interval_s": 1.0,
            "measurement_interval_s": 5.0,
            "incidents": [
                {"kind": i.kind, "at_s": i.at_s, "duration_s": i.duration_s} for i in home.incidents
            ],
        },
        "devices": [{"address": d.address, "kind": d.kind} for d in home.devices],
    }
    header = (
        f"Demo gateway {home.gateway_id} ({home.label}), written by `hjem demo`.\n"
        "The MQTT password comes from HJEM_EDGE_MQTT__PASSWORD."
    )
    return toml_text(data, header)


def hub_config_toml(database: Path, rules_file: Path, mqtt_port: int, http_port: int) -> str:
    """``hjem hub run`` configuration (the MQTT password comes from the environment)."""
    data: dict[str, object] = {
        "database": str(database),
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{mqtt_port}",
            "username": "hub",
            "client_id": "hjem-hub-demo",
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "ingest": {"sqlite_synchronous": "normal", "gateway_timeout_s": 60.0},
        "alerts": {"rules_file": str(rules_file), "tick_seconds": 1.0},
    }
    header = (
        "Demo hub, written by `hjem demo`.\nThe MQTT password comes from HJEM_HUB_MQTT__PASSWORD."
    )
    return toml_text(data, header)


RULES_TOML = """\
# Demo alert rules, written by `hjem demo` (production example: deploy/alerts.example.toml).
# Pending times are short so that the scripted incidents raise alerts within a minute. A fall
# reaches the hub as the alarm pendant's button press (no demo device sends a "fall" event).

[escalation.demo]
repeat_seconds = 600
steps = [
  { responder = "Hjemmeplejen Demo, vagttelefon", ack_deadline_seconds = 300 },
  { responder = "Sygeplejerske i vagt", ack_deadline_seconds = 600 },
]

[[rule]]
id = "pendant-alarm"
kind = "event"
measure = "button"
codes = ["press", "long_press"]
severity = "critical"
summary = "Nødkald: knappen på halssmykket er trykket (muligt fald)"
escalation = "demo"

[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
clear_value = 94
pending_seconds = 10
severity = "high"
summary = "Lav iltmætning: SpO2 under 92 %"
escalation = "demo"

[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.0
clear_value = 37.5
pending_seconds = 10
severity = "medium"
summary = "Feber: temperatur 38,0 °C eller mere"
escalation = "demo"

[[rule]]
id = "news2"
kind = "news2"
levels = [
  { min_score = 5, severity = "high" },
  { min_score = 7, severity = "critical" },
]
single_parameter_3 = "medium"
max_age_seconds = 3600
min_parameters = 3
escalation = "demo"

[[rule]]
id = "no-kitchen-motion-morning"
kind = "inactivity"
measure = "motion"
room = "køkken"
window_start = 07:00:00
window_end = 10:00:00
timezone = "Europe/Copenhagen"
severity = "high"
summary = "Ingen bevægelse i køkkenet 07-10"
escalation = "demo"

[[rule]]
id = "gateway-offline"
kind = "gateway_offline"
heartbeat_timeout_seconds = 60
grace_seconds = 15
severity = "high"
summary = "Gatewayen i hjemmet svarer ikke"

[[rule]]
id = "battery-low"
kind = "battery_low"
below_percent = 15
clear_percent = 25
severity = "low"
"""


# --- registry seed (the one writer) -------------------------------------------------------------


def seed_registry(registry: Registry, since: datetime) -> bool:
    """Add the organisation, team, homes, residents, gateways, devices and assignments.

    Returns False (and changes nothing) if the demo world is already there (a kept workdir).
    """
    if any(h.id == HOMES[0].home_id for h in registry.homes()):
        return False
    registry.add_organisation(*ORGANISATION)
    registry.add_team(TEAM[0], ORGANISATION[0], TEAM[1])
    for home in HOMES:
        registry.add_home(home.home_id, home.label, TEAM[0])
        registry.add_publisher(home.gateway_id, "gateway", home.home_id)
        registry.add_resident(home.resident_name, home.home_id, resident_id=home.resident_id)
        for device in home.devices:
            registry.add_device(device.device_id, device.description)
            registry.assign(device.device_id, home.resident_id, since)
    return True
