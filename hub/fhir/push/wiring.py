"""The exporter inside the hub: built from ``[fhir_push]`` when the hub opens, a post-commit
listener that queues, a collector on the hub's metrics, and a task that sends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from hub.events import Listener
from hub.fhir.push.exporter import PushExporter
from hub.fhir.push.metrics import PushCollector
from hub.fhir.push.transport import HttpxTransport

if TYPE_CHECKING:
    from hub.compose import Services

__all__ = ["PushWiring", "build_push"]


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
    """None without recipients. Raises PushAuthError for credentials it cannot read."""
    settings = services.settings.fhir_push
    if not settings.recipients:
        return None
    timeout = max(r.timeout_s for r in settings.recipients)
    exporter = PushExporter(services.conn, settings, HttpxTransport(timeout), clock=services.clock)
    collector = PushCollector(exporter.outbox, [r.name for r in settings.recipients])
    registry.register(collector)
    wiring = PushWiring(exporter, [lambda: registry.unregister(collector)])
    wiring.undo.append(add_listener(exporter.listener))
    return wiring
