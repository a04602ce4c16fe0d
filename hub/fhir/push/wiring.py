"""The exporter inside the hub: built from ``[fhir_push]`` when the hub opens, reading the
store's numbered feed, a post-commit listener that wakes it, a collector on the hub's metrics,
and a task that queues and sends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from hub.errors import HubError
from hub.events import Listener
from hub.fhir.push.exporter import PushExporter
from hub.fhir.push.metrics import PushCollector
from hub.fhir.push.transport import HttpxTransport

if TYPE_CHECKING:
    from hub.compose import Services

__all__ = ["PushStoreError", "PushWiring", "build_push"]


class PushStoreError(HubError):
    """The configured store cannot feed the exporter."""


@dataclass
class PushWiring:
    exporter: PushExporter
    undo: list[Callable[[], None]] = field(default_factory=list)

    async def run(self) -> None:
        """The hub's ``fhir-push`` task: send until cancelled, then close the connections."""
        try:
            await self.exporter.run()
        finally:
            await self.exporter.transport.aclose()

    def close(self) -> None:
        while self.undo:
            self.undo.pop()()


def build_push(
    services: Services,
    add_listener: Callable[[Listener], Callable[[], None]],
    registry: CollectorRegistry,
) -> PushWiring | None:
    """None without recipients. Raises PushAuthError for credentials it cannot read, and
    PushStoreError with a store that does not number observations."""
    settings = services.settings.fhir_push
    if not settings.recipients:
        return None
    if services.store.kind not in {"sqlite", "postgresql"}:  # InfluxDB numbers nothing
        raise PushStoreError(
            f'[fhir_push] needs store.kind = "sqlite" or "postgresql" (the store'
            f" {services.store.kind!r} does not number its observations, and the exporter"
            " reads them in that order)"
        )
    timeout = max(r.timeout_s for r in settings.recipients)
    exporter = PushExporter(
        services.conn,
        settings,
        HttpxTransport(timeout),
        store=services.store,
        clock=services.clock,
    )
    collector = PushCollector(exporter.outbox, [r.name for r in settings.recipients])
    registry.register(collector)
    wiring = PushWiring(exporter, [lambda: registry.unregister(collector)])
    wiring.undo.append(add_listener(exporter.listener))
    return wiring
