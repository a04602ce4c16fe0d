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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.alerts.durable import OBSERVATIONS, DurableEngine
from hub.alerts.inputs import ObservationInput
from hub.store.base import StoredObservation, TimeSeriesStore

__all__ = ["PAGE", "AlertFeed"]

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
