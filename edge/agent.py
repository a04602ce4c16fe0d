"""The edge agent: scanners and GATT sessions feed a queue; one task decodes into the outbox.

:class:`Agent` is an async context manager that owns a TaskGroup with named tasks:

* ``consume``   — takes reports from the bounded queue, decodes them (pure decoders), writes
  the observations to the outbox in one transaction per batch, wakes the publisher;
* ``publish``   — :class:`~edge.publisher.Publisher` (MQTT, reconnects by itself);
* ``watchdog``  — per adapter: no advertisements for ``watchdog.timeout_s`` → restart the scan,
  then power-cycle the adapter;
* ``gatt-<address>`` — one per connected health device (:class:`~edge.gatt.GattManager`).

A device sending garbage, an adapter that stops reporting, or a broker that is away are
logged and reported in the gateway status; the agent keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from types import TracebackType
from typing import Any

from edge.config import EdgeConfig
from edge.decoders import DecodeContext, DecodeError, DeviceState, decode_advertisement, decode_gatt
from edge.errors import RadioError
from edge.gatt import GattManager, GattReport
from edge.health import HealthBook
from edge.outbox import Outbox, StoredItem
from edge.publisher import Publisher
from edge.radio import load_radio
from edge.scanner import AdvertReport, Scanner
from edge.watchdog import BlueZPowerControl, PowerControl, WatchdogState, decide
from foundation.clock import Clock, utcnow
from foundation.version import __version__
from schemas.codes import codes
from schemas.models import DeviceInfo, GatewayStatus, Observation, Source, StatusKind, encode

__all__ = ["ARRIVAL_TOLERANCE", "Agent", "is_vital", "stamped_ahead"]

log = logging.getLogger("hjem.edge")
Report = AdvertReport | GattReport
_CONSUME_BATCH = 512


@cache
def _vital_code(system: str, code: str) -> bool:
    return any(m.vital or m.kind == "event" for m in codes().by_primary(system, code))


def is_vital(obs: Observation) -> bool:
    """Vital signs and events (falls, alarms, buttons) are kept longest under the disk quota."""
    return _vital_code(obs.code[0].system, obs.code[0].code)


ARRIVAL_TOLERANCE = timedelta(seconds=2)


def stamped_ahead(observations: list[Observation], received: datetime) -> bool:
    """True when a reading's own timestamp lies after its arrival (beyond a small tolerance).

    A measurement cannot arrive before it was taken, so such a timestamp came from the
    device's clock before this session set it, and the offset measured then applies.
    """
    limit = received + ARRIVAL_TOLERANCE
    return any(
        o.device_time is not None and not o.clock_corrected and o.effective > limit
        for o in observations
    )


class Agent:
    """One gateway. ``async with Agent(config) as agent: await agent.wait()``."""

    def __init__(self, config: EdgeConfig, clock: Clock = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.started = time.monotonic()
        self.outbox = Outbox(
            config.outbox.path, config.outbox.quota_bytes, config.outbox.synchronous
        )
        self.queue: asyncio.Queue[Report] = asyncio.Queue(config.scan.queue_size)
        self.devices = {d.address: d for d in config.devices}
        self.states: dict[str, DeviceState] = {}
        self.health = HealthBook()
        self.watch = {name: WatchdogState() for name in config.scan.adapters}
        self.scanners: dict[str, Scanner] = {}
        self.publisher = Publisher(config, self.outbox, self.status, clock)
        self.radio: Any = None
        self.gatt: GattManager | None = None
        self.power: PowerControl = BlueZPowerControl()
        self.decode_errors = 0
        self.unlisted = 0
        self.observations = 0
        self._stack = contextlib.AsyncExitStack()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.taps: list[Callable[[list[Observation]], None]] = []
        """Called with every list of observations just stored (tests, benchmarks)."""

    # -- life cycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        self.outbox.open()
        self._stack.callback(self.outbox.close)
        backend = await self._radio_backend()
        self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        self.gatt = GattManager(
            self.config.gatt,
            self._put_gatt,
            client_kwargs=backend["client"],
            last_sequence=self._last_sequence,
            timezone=self.config.device_timezone,
            clock=self.clock,
        )
        for name in self.config.scan.adapters:
            scanner = Scanner(name, self.queue, self.config.scan.mode, backend["scanner"])
            self.scanners[name] = await self._stack.enter_async_context(scanner)
        self._tasks = [
            self._tg.create_task(self._consume(), name="consume"),
            self._tg.create_task(self.publisher.run(), name="publish"),
            self._tg.create_task(self._watchdog(), name="watchdog"),
        ]
        log.info(
            "gateway %s running: %d devices, adapters %s, radio %s, outbox %s (%d waiting)",
            self.config.gateway_id,
            len(self.devices),
            ", ".join(self.scanners),
            self.config.radio,
            self.config.outbox.path,
            self.outbox.depth,
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        # our tasks never end by themselves: cancel them, then leave the TaskGroup
        sessions = self.gatt.sessions.values() if self.gatt else []
        for task in [*self._tasks, *(s.task for s in sessions if s.task)]:
            task.cancel()
        try:
            await self._stack.__aexit__(et, e, tb)
        finally:
            if et is None or issubclass(et, asyncio.CancelledError):
                await self.publisher.publish_death()

    async def _radio_backend(self) -> dict[str, dict[str, Any]]:
        if self.config.radio == "bluez":
            return {"scanner": {}, "client": {}}
        factory = load_radio(self.config.radio)  # a plug-in: the simulator's "virtual"
        backend = await self._stack.enter_async_context(factory(self.config, self.clock))
        self.radio = backend.handle
        self.power = backend.power
        return {"scanner": backend.scanner, "client": backend.client}

    # -- decoding ---------------------------------------------------------------------------

    def _put_gatt(self, report: GattReport) -> None:
        try:
            self.queue.put_nowait(report)
        except asyncio.QueueFull:
            log.warning("%s: queue full, a GATT value was dropped", report.address)

    def _last_sequence(self, address: str) -> int | None:
        value = self.outbox.get_state(f"glucose-seq:{address}")
        return int(value) if value is not None else None

    def _context(self, address: str, clock_offset: timedelta | None = None) -> DecodeContext | None:
        device = self.devices.get(address)
        if device is None and not self.config.scan.accept_unlisted:
            return None
        device_id = device.device_id if device else "ble-" + address.replace(":", "").lower()
        source = Source(
            publisher=self.config.gateway_id,
            gateway=self.config.gateway_id,
            device=DeviceInfo(id=device_id, address=address),
        )
        return DecodeContext(
            source=source,
            now=self.clock(),
            state=self.states.setdefault(address, DeviceState()),
            bthome_key=device.key_bytes if device else None,
            clock_offset=clock_offset,
            device_timezone=self.config.device_timezone,
            demo=self.config.radio == "virtual",
        )

    def _decode(self, report: Report) -> list[Observation]:
        offset = report.clock_offset if isinstance(report, GattReport) else None
        ctx = self._context(report.address, offset)
        if ctx is None:
            self.unlisted += 1
            return []
        device_id = ctx.source.device.id
        try:
            if isinstance(report, GattReport):
                self.health.saw(report.address, device_id, ctx.now, None)
                out = decode_gatt(report.characteristic, report.data, ctx)
                if report.stale_offset is not None and stamped_ahead(out, ctx.now):
                    stale = self._context(report.address, report.stale_offset)
                    assert stale is not None
                    out = decode_gatt(report.characteristic, report.data, stale)
            else:
                self.health.saw(report.address, device_id, ctx.now, report.rssi)
                out = decode_advertisement(
                    ctx,
                    service_data=report.service_data,
                    manufacturer_data=report.manufacturer_data,
                )
                self._maybe_connect(report)
        except DecodeError as exc:
            self._decode_failed(report.address, device_id, exc)
            return []
        except (ValueError, OverflowError) as exc:  # a value the schema refused (pydantic)
            self._decode_failed(report.address, device_id, DecodeError("edge", str(exc)[:300]))
            return []
        self.health.observed(report.address, device_id, out)
        return out

    def _decode_failed(self, address: str, device_id: str, exc: DecodeError) -> None:
        self.decode_errors += 1
        seen = self.health.device(address, device_id)
        seen.decode_errors += 1
        level = (
            logging.WARNING
            if seen.decode_errors <= 3 or seen.decode_errors % 100 == 0
            else logging.DEBUG
        )
        log.log(
            level,
            "%s (%s): undecodable data (%d so far): %s",
            address,
            device_id,
            seen.decode_errors,
            exc,
        )
        seen.last_error = str(exc)

    def _remember_sequences(self, observations: list[Observation]) -> None:
        """Persist the last glucose record number per device, after the records are stored."""
        latest: dict[str, int] = {}
        for obs in observations:
            if obs.sequence is not None and obs.raw and obs.raw.format == "gatt:2a18":
                address = obs.source.device.address or ""
                latest[address] = max(latest.get(address, 0), obs.sequence)
        for address, sequence in latest.items():
            last = self._last_sequence(address) or 0
            self.outbox.set_state(f"glucose-seq:{address}", str(max(last, sequence)))

    def _maybe_connect(self, report: AdvertReport) -> None:
        device = self.devices.get(report.address)
        if device is not None and device.wants_connection and self.gatt and self._tg:
            self.gatt.seen(device, report.device, self._tg, report.adapter)

    async def _consume(self) -> None:
        while True:
            reports = [await self.queue.get()]
            while len(reports) < _CONSUME_BATCH and not self.queue.empty():
                reports.append(self.queue.get_nowait())
            observations: list[Observation] = []
            for report in reports:
                observations += self._decode(report)
            if not observations:
                continue
            items = [StoredItem(o.id, is_vital(o), encode(o)) for o in observations]
            self.outbox.put(items)
            self._remember_sequences(observations)
            self.observations += len(items)
            for tap in self.taps:
                tap(observations)
            self.publisher.wake()

    # -- watchdog and status ----------------------------------------------------------------

    async def _watchdog(self) -> None:
        cfg = self.config.watchdog
        while True:
            await asyncio.sleep(cfg.check_interval_s)
            for name, scanner in self.scanners.items():
                state = self.watch[name]
                action = decide(scanner.last_advert, time.monotonic(), cfg.timeout_s, state)
                if action == "none":
                    continue
                log.warning(
                    "%s: no advertisements for %.0f s; %s",
                    name,
                    time.monotonic() - scanner.last_advert,
                    action.replace("_", " "),
                )
                try:
                    if action == "power_cycle":
                        await self.power.power_cycle(name)
                    await scanner.restart()
                except RadioError as exc:  # reported in the status; the next round tries again
                    log.error("%s: recovery failed: %s", name, exc)  # noqa: TRY400

    def status(self, kind: StatusKind) -> GatewayStatus:
        uptime = time.monotonic() - self.started
        adapters = [
            HealthBook.adapter(
                name,
                "down" if scanner.failed else self.watch[name].health,
                scanner.adverts * 60 / max(uptime, 1.0),
                self.watch[name].recoveries,
            )
            for name, scanner in self.scanners.items()
        ]
        connected = {a: self.gatt.connected(a) for a in self.gatt.sessions} if self.gatt else {}
        return GatewayStatus(
            publisher=self.config.gateway_id,
            kind=kind,
            online=kind != StatusKind.DEATH,
            time=self.clock(),
            software=f"hjem-edge {__version__}",
            uptime_s=round(uptime, 1),
            outbox_depth=self.outbox.depth if self.outbox.is_open else None,
            outbox_dropped=self.outbox.dropped,
            adapters=adapters if kind != StatusKind.DEATH else [],
            devices=self.health.device_health(connected) if kind != StatusKind.DEATH else [],
        )
