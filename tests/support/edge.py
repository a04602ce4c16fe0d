"""Helpers for the edge agent's tests: observation factories and a broker-side collector."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiomqtt

from schemas.builders import make_observation
from schemas.models import DeviceInfo, GatewayStatus, Observation, Source
from schemas.validation import validate_batch

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def observation(i: int, *, gateway: str = "gw1", key: str = "room_temperature") -> Observation:
    source = Source(publisher=gateway, gateway=gateway, device=DeviceInfo(id=f"dev{i % 7}"))
    return make_observation(
        key,
        source=source,
        effective=NOW + timedelta(seconds=i),
        value=f"{20 + i % 10}.{i % 10}",
    )


@dataclass
class Collected:
    ids: list[str] = field(default_factory=list)
    statuses: list[GatewayStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    messages: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def unique(self) -> set[str]:
        return set(self.ids)


async def _collect(client: aiomqtt.Client, gateway: str, into: Collected) -> None:
    async for message in client.messages:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if str(message.topic).endswith("/status"):
            into.statuses.append(GatewayStatus.model_validate_json(payload))
            continue
        result = validate_batch(payload, now=datetime.now(UTC), expected_publisher=gateway)
        into.messages += 1
        into.errors.extend(f"{e.path}: {e.reason}" for e in result.errors)
        into.ids.extend(o.id for o in result.accepted)
        into.arrived.set()


@contextlib.asynccontextmanager
async def collector(port: int, gateway: str = "gw1") -> AsyncIterator[Collected]:
    """Subscribe (QoS 1, persistent session) to the gateway's topics; validate every batch."""
    into = Collected()
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=f"collector-{gateway}", clean_session=False
    ) as client:
        await client.subscribe(f"hjem/v1/{gateway}/obs", qos=1)
        await client.subscribe(f"hjem/v1/{gateway}/status", qos=1)
        task = asyncio.create_task(_collect(client, gateway, into))
        try:
            yield into
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_until(predicate: object, timeout: float = 20.0, what: str = "") -> None:
    """Poll a condition (a callable returning bool) until it holds; fail with ``what``."""
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


ALL_KINDS = (
    "bthome",  # the first BTHome device is the pendant (button)
    "bthome",
    "ruuvi",
    "xiaomi",  # even last digit: ATC1441
    "xiaomi",  # odd: pvvx
    "heart_rate",
    "thermometer",
    "blood_pressure",
    "weight_scale",
    "pulse_oximeter",
    "glucose",
)


def device_list(kinds: tuple[str, ...] = ALL_KINDS, start: int = 0x10) -> list[dict[str, object]]:
    return [
        {"address": f"C0:00:00:00:00:{start + n:02X}", "kind": kind} for n, kind in enumerate(kinds)
    ]


def agent_config_dict(tmp: object, port: int, **overrides: object) -> dict[str, object]:
    """A virtual-radio gateway config with fast intervals, for tests."""
    from pathlib import Path

    assert isinstance(tmp, Path)
    base: dict[str, object] = {
        "gateway_id": "gw1",
        "radio": "virtual",
        "heartbeat_interval_s": 0.5,
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{port}",
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
            "batch_linger_s": 0.05,
        },
        "outbox": {"path": str(tmp / "outbox.sqlite")},
        "virtual": {"advert_interval_s": 0.2, "measurement_interval_s": 1.0},
        "gatt": {"max_connections": 6, "reconnect_min_s": 0.2, "idle_disconnect_s": 2.0},
        "watchdog": {"timeout_s": 30, "check_interval_s": 0.1},
        "devices": device_list(),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return base


def toml_of(data: dict[str, object]) -> str:
    """A small TOML writer for the configs above (tables, arrays of tables, scalars)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, object]]] = []
    arrays: list[tuple[str, list[dict[str, object]]]] = []

    def scalar(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            arrays.append((key, value))
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(scalar(v) for v in value)}]")
        else:
            lines.append(f"{key} = {scalar(value)}")
    for key, table in tables:
        lines.append(f"\n[{key}]")
        for k, v in table.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                arrays.append((f"{key}.{k}", v))
            elif isinstance(v, list):
                lines.append(f"{k} = [{', '.join(scalar(x) for x in v)}]")
            else:
                lines.append(f"{k} = {scalar(v)}")
    for key, items in arrays:
        for item in items:
            lines.append(f"\n[[{key}]]")
            lines += [f"{k} = {scalar(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"
