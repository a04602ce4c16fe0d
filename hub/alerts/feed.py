"""The alert engine's input: the store's numbered observations, from a durable position.

:meth:`AlertFeed.drain` reads what the store committed after the engine's position
(:meth:`~hub.store.base.TimeSeriesStore.stored_since`, commit order, whichever hub process
stored it) page by page and evaluates each page as one unit of the
:class:`~hub.alerts.durable.DurableEngine`, which moves the position in the same transaction
as the alert changes and rule state the page causes. An observation is evaluated once: a
page that could not be committed is read again, one that was is never read again. The hub's
post-commit listener and the alert timer only call :meth:`AlertFeed.drain` (a wake-up); what
to evaluate comes from the store.

The first start (no position yet) begins at the newest stored observation: what a hub stored
before it had alerts is not evaluated late.

:class:`GatewayFeed` does the same for gateway online/offline changes: the hub node that
received a status message (or noticed a silent gateway) writes the change to the
``gateway_change`` journal in the transaction that records it
(:class:`hub.registry.gateways.Gateways` with ``journal``); the evaluating node consumes each
row in the unit that evaluates it, so whichever node saw it, it is evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.alerts.durable import OBSERVATIONS, DurableEngine
from hub.alerts.errors import StorageError
from hub.alerts.inputs import GatewayInput, ObservationInput
from hub.registry.gateways import GatewayChange, Gateways
from hub.store.base import StoredObservation, TimeSeriesStore

__all__ = ["PAGE", "AlertFeed", "GatewayFeed"]

PAGE = 500
"""Stored observations evaluated per unit (one transaction)."""

Inputs = Callable[[Sequence[StoredObservation]], list[ObservationInput]]
"""Stored observations with what the registry says about them (home, room, SpO2 scale)."""


class AlertFeed:
    """The store's feed into a durable engine."""

    def __init__(
        self, engine: DurableEngine, store: TimeSeriesStore, inputs: Inputs, *, page: int = PAGE
    ) -> None:
        self.engine = engine
        self.store = store
        self.inputs = inputs
        self.page = page
        self.evaluated = 0
        """Observations this process evaluated from the feed (for status and tests)."""

    def start(self) -> None:
        """Fix the first position (the newest stored observation) if the feed has none.

        Called when the hub opens, before ingest: what is stored from then on is evaluated,
        whenever this or another node comes to lead (set only on first leadership, the
        readings stored in the second before it were never evaluated). Another node that
        fixed it at the same moment wins; its position stands."""
        if self.engine.state.position(OBSERVATIONS) is not None:
            return
        try:
            with self.engine.unit(OBSERVATIONS, self.store.last_stored(), after=None):
                pass
        except StorageError:
            if self.engine.state.position(OBSERVATIONS) is None:
                raise

    def position(self) -> int:
        """The number of the last observation evaluated (a first start: the newest)."""
        position = self.engine.state.position(OBSERVATIONS)
        if position is None:
            with self.engine.unit(OBSERVATIONS, self.store.last_stored(), after=None):
                pass
            position = self.engine.state.position(OBSERVATIONS)
            assert position is not None
        return position

    def drain(self) -> int:
        """Evaluate everything stored after the position; how many observations."""
        position = self.position()
        total = 0
        while page := self.store.stored_since(position, self.page):
            items = self.inputs([item for _, item in page])
            self.engine.observe(items, position=page[-1][0], after=position)
            position = page[-1][0]
            total += len(page)
        self.evaluated += total
        return total


class GatewayFeed:
    """The ``gateway_change`` journal into a durable engine, one change per unit."""

    def __init__(
        self,
        engine: DurableEngine,
        gateways: Gateways,
        to_input: Callable[[GatewayChange], GatewayInput],
    ) -> None:
        self.engine = engine
        self.gateways = gateways
        self.to_input = to_input
        self.evaluated = 0
        """Changes this process evaluated (for tests)."""

    def drain(self) -> int:
        """Evaluate every journalled change, oldest first; how many."""
        total = 0
        while pending := self.gateways.pending():
            for change_id, change in pending:
                with self.engine.unit():
                    if not self.gateways.consume(change_id):
                        raise StorageError(
                            f"gateway change {change_id} is gone (another hub node evaluated it)"
                        )
                    self.engine.gateway(self.to_input(change))
                total += 1
        self.evaluated += total
        return total
