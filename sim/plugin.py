"""The virtual radio as the agent's ``radio = "virtual"`` plug-in (entry point ``hjem.radio``).

The edge finds this through the entry point (:func:`edge.radio.load_radio`) and never imports
it: the dependency points from the simulator to the edge.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from edge.config import EdgeConfig
from edge.radio import RadioBackend
from sim.backend import VirtualClient, VirtualScanner
from sim.radio import VirtualRadio

__all__ = ["VirtualPowerControl", "open_virtual"]

log = logging.getLogger("hjem.edge.watchdog")


class VirtualPowerControl:
    """Power-cycle an adapter of the virtual radio."""

    def __init__(self, radio: VirtualRadio) -> None:
        self.radio = radio

    async def power_cycle(self, adapter: str) -> None:
        log.warning("%s: power-cycling the (virtual) adapter", adapter)
        await self.radio.adapter(adapter).power_cycle()


@asynccontextmanager
async def open_virtual(
    config: EdgeConfig, clock: Callable[[], datetime]
) -> AsyncIterator[RadioBackend]:
    """Run the virtual radio for one agent: its devices, adapters and resident model."""
    async with VirtualRadio(config.virtual, config.devices, config.scan.adapters, clock) as radio:
        yield RadioBackend(
            power=VirtualPowerControl(radio),
            scanner={"backend": VirtualScanner, "virtual_radio": radio},
            client={"backend": VirtualClient, "virtual_radio": radio},
            handle=radio,
        )
