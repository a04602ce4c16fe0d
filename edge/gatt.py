"""GATT sessions with connectable health devices.

When a listed health device advertises, :class:`GattManager` opens a session (if none runs and
its backoff has passed): connect with bleak-retry-connector, read the device clock (Current
Time, 0x2A2B) where offered, subscribe to the health characteristics, fetch stored glucose
records through the RACP since the last sequence number seen, then set the device clock, and
stay connected until the device goes quiet for ``idle_disconnect_s`` or drops the link. At most
``max_connections`` sessions hold a connection at once (a semaphore). Values are handed to
the agent as :class:`GattReport` through its bounded queue; nothing is decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from edge.config import DeviceConfig, GattConfig
from edge.decoders import DecodeError, RacpOpcode, RacpOperator, parse_racp, racp_request
from edge.decoders.current_time import current_time
from edge.errors import GattSessionError
from edge.kinds import KINDS
from foundation.clock import Clock, utcnow
from foundation.waiting import wait_for

__all__ = ["HEALTH_CHARACTERISTICS", "GattManager", "GattReport", "uuid16"]

log = logging.getLogger("hjem.edge.gatt")

HEALTH_CHARACTERISTICS: tuple[int, ...] = (
    *(c for k in KINDS if k.measurement for c in (k.measurement, *k.also)),
    0x2A19,  # Battery Level, which any of them may offer
)
"""What a session subscribes to where the device offers it (from the kinds table)."""
RACP, CURRENT_TIME = 0x2A52, 0x2A2B


def uuid16(value: int) -> str:
    return f"0000{value:04x}-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class GattReport:
    """One characteristic value from a connected device."""

    address: str
    characteristic: int
    data: bytes
    clock_offset: timedelta | None = None
    """Device clock minus true time when the value's timestamp was made (None: correct)."""
    stale_offset: timedelta | None = None
    """The offset measured before this session set the device clock: a value delivered after
    the clock was set but stamped ahead of its arrival was stamped by the old clock."""
    received: float = field(default_factory=time.monotonic)


@dataclass
class _Link:
    """One connection's running state."""

    address: str
    last_value: float = field(default_factory=time.monotonic)
    clock_offset: timedelta | None = None
    stale_offset: timedelta | None = None


@dataclass
class _Session:
    task: asyncio.Task[None] | None = None
    failures: int = 0
    not_before: float = 0.0
    connected: bool = False


def _raise_if_cancel_was_dropped() -> None:
    """Raise CancelledError when this task was cancelled but went on all the same.

    bumble waits for every GATT response with ``asyncio.wait_for``, which before Python 3.12
    returns the response and drops a cancellation that arrives with it (CPython gh-86296).
    The session then stayed connected for as long as its device sent values, and the
    agent's shutdown (which cancels each session once) never ended. The request is still
    counted by :meth:`asyncio.Task.cancelling`.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class GattManager:
    """Starts and supervises one session per connectable device."""

    def __init__(
        self,
        config: GattConfig,
        put: Callable[[GattReport], None],
        *,
        client_kwargs: dict[str, Any],
        last_sequence: Callable[[str], int | None],
        timezone: str,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.put = put
        self.client_kwargs = client_kwargs
        self.last_sequence = last_sequence
        self.zone = ZoneInfo(timezone)
        self.clock = clock
        self.slots = asyncio.Semaphore(config.max_connections)
        self.sessions: dict[str, _Session] = {}
        self.active = 0
        self.peak_active = 0
        self.clock_sets = 0

    def connected(self, address: str) -> bool:
        session = self.sessions.get(address)
        return bool(session and session.connected)

    def seen(
        self,
        device: DeviceConfig,
        ble_device: BLEDevice,
        tg: asyncio.TaskGroup,
        adapter: str = "hci0",
    ) -> None:
        """A connectable device advertised: start a session unless one runs or it backs off.

        The session connects through the adapter that heard the advertisement.
        """
        session = self.sessions.setdefault(device.address, _Session())
        if session.task is not None and not session.task.done():
            return
        if time.monotonic() < session.not_before:
            return
        session.task = tg.create_task(
            self._supervise(device, ble_device, session, adapter), name=f"gatt-{device.address}"
        )

    async def _supervise(
        self, device: DeviceConfig, ble: BLEDevice, session: _Session, adapter: str
    ) -> None:
        try:
            async with self.slots:
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                try:
                    await self._session(device, ble, session, adapter)
                finally:
                    self.active -= 1
                    session.connected = False
            session.failures = 0
            session.not_before = time.monotonic() + self.config.reconnect_min_s
        except (GattSessionError, BleakError, TimeoutError) as exc:
            session.failures += 1
            delay = min(
                self.config.reconnect_max_s,
                self.config.reconnect_min_s * 2 ** min(session.failures, 20),
            )
            session.not_before = time.monotonic() + delay
            log.warning(
                "%s: GATT session failed (%s); next try in %.0f s", device.address, exc, delay
            )

    async def _session(
        self, device: DeviceConfig, ble: BLEDevice, session: _Session, adapter: str
    ) -> None:
        gone = asyncio.Event()
        try:
            client = await establish_connection(
                BleakClient,
                ble,
                device.device_id,
                disconnected_callback=lambda _c: gone.set(),
                max_attempts=2,
                bluez={"adapter": adapter},
                **self.client_kwargs,
            )
        except BleakError as exc:
            raise GattSessionError(device.address, f"cannot connect: {exc}") from exc
        session.connected = True
        log.info("%s: connected (%s)", device.address, device.kind)
        link = _Link(device.address)
        try:
            await self._conduct(client, device, link)
            while not gone.is_set():
                _raise_if_cancel_was_dropped()
                idle = time.monotonic() - link.last_value
                if idle >= self.config.idle_disconnect_s:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.idle_disconnect_s - idle):
                        await gone.wait()
        finally:
            try:
                async with asyncio.timeout(10):
                    await client.disconnect()
            except (BleakError, TimeoutError) as exc:
                log.warning("%s: disconnect did not complete: %s", device.address, exc)
            log.info("%s: disconnected", device.address)

    async def _conduct(self, client: BleakClient, device: DeviceConfig, link: _Link) -> None:
        """Read the device clock, subscribe, fetch stored records, then set the clock.

        Values that arrive before the clock is set carry the offset measured at the start
        (their timestamps come from the old clock); later ones carry none.
        """
        available = {int(c.uuid[4:8], 16) for c in client.services.characteristics.values()}
        if CURRENT_TIME in available:
            link.clock_offset = await self._read_offset(client, device)
        for char in HEALTH_CHARACTERISTICS:
            if char in available:
                await self._subscribe(client, char, link)
        if RACP in available:
            await self._fetch_records(client, device)
        if self.config.set_clock and CURRENT_TIME in available:
            await self._set_clock(client, device)
            link.stale_offset, link.clock_offset = link.clock_offset, None

    async def _subscribe(self, client: BleakClient, char: int, link: _Link) -> None:
        def on_value(_c: object, data: bytearray) -> None:
            link.last_value = time.monotonic()
            self.put(
                GattReport(link.address, char, bytes(data), link.clock_offset, link.stale_offset)
            )

        if char == 0x2A19:  # battery: read once; notifications are optional
            value = bytes(await client.read_gatt_char(uuid16(char)))
            self.put(GattReport(link.address, char, value))
            return
        await client.start_notify(uuid16(char), on_value)

    async def _read_offset(self, client: BleakClient, device: DeviceConfig) -> timedelta | None:
        """Device clock minus true time, from Current Time (None if it says nothing usable)."""
        data = bytes(await client.read_gatt_char(uuid16(CURRENT_TIME)))
        try:
            year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", data)
            shown = datetime(year, month, day, hour, minute, second, tzinfo=self.zone)
        except (struct.error, ValueError):
            log.info("%s: device clock unreadable or unset (%s)", device.address, data.hex())
            return None
        offset = shown - self.clock()
        if abs(offset) < timedelta(seconds=2):
            return None
        log.info("%s: device clock is off by %s", device.address, offset)
        return offset

    async def _set_clock(self, client: BleakClient, device: DeviceConfig) -> None:
        local = self.clock().astimezone(self.zone).replace(tzinfo=None)
        await client.write_gatt_char(uuid16(CURRENT_TIME), current_time(local, 1), response=True)
        self.clock_sets += 1
        log.info("%s: device clock set to %s", device.address, local.isoformat(timespec="seconds"))

    async def _fetch_records(self, client: BleakClient, device: DeviceConfig) -> None:
        responses: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(uuid16(RACP), lambda _c, d: responses.put_nowait(bytes(d)))
        last = self.last_sequence(device.address)
        try:
            if last is None:
                request = racp_request(RacpOpcode.REPORT_RECORDS, RacpOperator.ALL)
            else:
                request = racp_request(
                    RacpOpcode.REPORT_RECORDS,
                    RacpOperator.GREATER_OR_EQUAL,
                    minimum=min(last + 1, 0xFFFF),
                )
            await client.write_gatt_char(uuid16(RACP), request, response=True)
            answer = parse_racp(await wait_for(responses.get(), 30))
        except DecodeError as exc:
            raise GattSessionError(device.address, f"record access: {exc}") from exc
        if not answer.success:
            raise GattSessionError(device.address, f"record access refused: {answer}")
        log.info(
            "%s: stored glucose records fetched after #%s (%s)",
            device.address,
            last,
            answer.response,
        )
