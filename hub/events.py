"""What the running hub tells its listeners after each commit (alerts, status, tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from hub.registry.gateways import GatewayChange
from hub.store.base import StoredObservation

__all__ = ["HubEvent", "Listener", "StoredBatch"]


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """Observations stored for the first time by one commit (MQTT group or HTTP request)."""

    observations: tuple[StoredObservation, ...]
    transport: str
    committed: datetime


HubEvent = StoredBatch | GatewayChange
Listener = Callable[[HubEvent], Awaitable[None]]
