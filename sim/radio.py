"""The virtual radio: a bumble link with gateway adapters and virtual devices, and faults.

:class:`VirtualRadio` is an async context manager that owns the link, one bumble central per
adapter (``hci0``, ``hci1``...), the virtual devices, and the task that refreshes their
advertisements and measurements. Faults can be injected: a device that disappears, a lost
connection, an adapter that stops reporting advertisements (until power-cycled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from bumble.core import BaseBumbleError
from bumble.device import Advertisement, Device
from bumble.link import LocalLink

from edge.config import DeviceConfig, VirtualConfig
from edge.errors import AdapterError, RadioError
from edge.kinds import BY_NAME
from foundation.clock import Clock, utcnow
from foundation.waiting import wait_for
from sim.devices import SensorDevice, VirtualDevice, bumble_device
from sim.health import GattDevice
from sim.resident import Incident, ResidentModel

__all__ = ["VirtualAdapter", "VirtualRadio", "make_device"]

log = logging.getLogger("hjem.sim")
AdvertListener = Callable[[Advertisement], None]


def make_device(
    link: LocalLink,
    address: str,
    kind: str,
    *,
    index: int,
    model: ResidentModel,
    clock: Callable[[], datetime],
    key: bytes | None = None,
    garbage_every: int = 0,
) -> VirtualDevice:
    if not BY_NAME[kind].connects:  # an advertising sensor (edge.kinds)
        return SensorDevice(
            link,
            address,
            kind,
            index=index,
            model=model,
            clock=clock,
            key=key,
            garbage_every=garbage_every,
        )
    return GattDevice(link, address, kind, index=index, model=model, clock=clock, key=key)


class VirtualAdapter:
    """The gateway's side of the link: one bumble central that scans and connects."""

    def __init__(self, link: LocalLink, name: str, index: int) -> None:
        self.name = name
        self.link = link
        self.address = f"F0:00:00:00:00:{index:02X}"
        self.device: Device = bumble_device(link, self.address, name)
        self.listeners: list[AdvertListener] = []
        self.silenced = False
        self.scanning = False
        self.power_cycles = 0
        self.connect_lock = asyncio.Lock()
        self.device.on("advertisement", self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        if self.silenced or not self.scanning or advertisement.is_scan_response:
            return  # bumble echoes the advertising data as a scan response: one report each
        for listener in self.listeners:
            listener(advertisement)

    async def start(self) -> None:
        await self.device.power_on()

    async def start_scanning(self, active: bool) -> None:
        if not self.scanning:
            async with _bounded(self.name, "start scanning"):
                await self.device.start_scanning(active=active, filter_duplicates=False)
            self.scanning = True

    async def stop_scanning(self) -> None:
        if self.scanning:
            self.scanning = False
            async with _bounded(self.name, "stop scanning"):
                await self.device.stop_scanning()

    async def power_cycle(self) -> None:
        """Power the adapter off and on: connections drop, a silenced adapter reports again."""
        self.power_cycles += 1
        was_scanning = self.scanning
        await self.stop_scanning()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(BaseBumbleError):  # a dying link may not answer
                await connection.disconnect()
        self.silenced = False
        if was_scanning:
            await self.start_scanning(active=False)


def _quiet_bumble_races(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """bumble's host sets the result of a command future that a cancelled task abandoned
    (``InvalidStateError`` in ``Host.on_packet``); in the simulation that is noise, not a fault."""
    exc = context.get("exception")
    if isinstance(exc, asyncio.InvalidStateError) and "Host.on_packet" in str(
        context.get("handle")
    ):
        log.debug("bumble: a response arrived for an abandoned command")
        return
    loop.default_exception_handler(context)


@contextlib.asynccontextmanager
async def _bounded(adapter: str, what: str, seconds: float = 5.0) -> AsyncIterator[None]:
    """A simulated controller that does not answer becomes a RadioError, not a hang."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise RadioError(adapter, f"{what}: no answer from the virtual controller") from exc


@dataclass
class RadioStats:
    ticks: int = 0
    tick_errors: int = 0


class VirtualRadio:
    """The whole virtual world of one home; use ``async with``."""

    def __init__(
        self,
        config: VirtualConfig,
        devices: Sequence[DeviceConfig],
        adapters: Sequence[str] = ("hci0",),
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.clock = clock
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        start = clock()
        incidents = tuple(
            Incident(i.kind, start + timedelta(seconds=i.at_s), timedelta(seconds=i.duration_s))
            for i in config.incidents
        )
        self.model = ResidentModel(config.seed, incidents)
        self.adapters = {
            name: VirtualAdapter(self.link, name, n) for n, name in enumerate(adapters)
        }
        counts: dict[str, int] = {}
        self.devices: dict[str, VirtualDevice] = {}
        for dev in devices:
            index = counts.get(dev.kind, 0)
            counts[dev.kind] = index + 1
            self.devices[dev.address] = make_device(
                self.link,
                dev.address,
                dev.kind,
                index=index,
                model=self.model,
                clock=clock,
                key=dev.key_bytes,
                garbage_every=config.garbage_every,
            )
        self.stats = RadioStats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._previous_handler: Any = None

    def adapter(self, name: str) -> VirtualAdapter:
        try:
            return self.adapters[name]
        except KeyError:
            raise AdapterError(
                name, f"no such virtual adapter (have {', '.join(self.adapters)})"
            ) from None

    async def __aenter__(self) -> VirtualRadio:
        loop = asyncio.get_running_loop()
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(_quiet_bumble_races)
        for adapter in self.adapters.values():
            await adapter.start()
        for device in self.devices.values():
            await device.start(self.config.advert_interval_s)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="virtual-radio")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        # let the current tick finish (cancelling bumble mid-command leaves its host confused)
        self._stopping.set()
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=2.0)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        asyncio.get_running_loop().set_exception_handler(self._previous_handler)

    async def _run(self) -> None:
        interval = self.config.advert_interval_s
        measure_every = max(1, round(self.config.measurement_interval_s / interval))
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stopping.is_set():
            now = self.clock()
            measure = self.stats.ticks % measure_every == 0
            self.stats.ticks += 1
            for device in self.devices.values():
                try:
                    async with asyncio.timeout(5):
                        await device.tick(now, measure)
                except (BaseBumbleError, TimeoutError, ValueError):  # one broken device only
                    self.stats.tick_errors += 1
                    log.exception("virtual device %s failed", device.address)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await wait_for(self._stopping.wait(), max(0.0, next_at - loop.time()))

    # -- faults -----------------------------------------------------------------------------

    async def disappear(self, address: str) -> None:
        await self.devices[address].disappear()

    async def reappear(self, address: str) -> None:
        await self.devices[address].reappear()

    async def drop_connection(self, address: str) -> None:
        await self.devices[address].drop_connections()

    def silence_adapter(self, name: str) -> None:
        """The adapter keeps running but stops reporting advertisements (a hung controller)."""
        self.adapter(name).silenced = True
