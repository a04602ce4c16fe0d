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
