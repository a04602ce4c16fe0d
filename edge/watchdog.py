"""The scan watchdog: no advertisements for a while → restart the scan → power-cycle the adapter.

:func:`decide` is pure (monotonic times in, an action out). Power-cycling goes through
:class:`PowerControl`; :class:`BlueZPowerControl` toggles ``org.bluez.Adapter1.Powered`` over
D-Bus; a radio plug-in (:mod:`edge.radio`) brings its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from edge.errors import AdapterError

__all__ = [
    "Action",
    "BlueZPowerControl",
    "PowerControl",
    "WatchdogState",
    "decide",
]

log = logging.getLogger("hjem.edge.watchdog")
Action = Literal["none", "restart_scan", "power_cycle"]


@dataclass
class WatchdogState:
    """Per-adapter recovery state: 0 healthy, 1 scan restarted, 2+ power-cycled n-1 times."""

    stage: int = 0
    last_action: float = 0.0
    recoveries: int = 0

    @property
    def health(self) -> Literal["scanning", "recovering", "down"]:
        if self.stage == 0:
            return "scanning"
        return "recovering" if self.stage <= 2 else "down"


def decide(last_advert: float, now: float, timeout: float, state: WatchdogState) -> Action:
    """What to do now, and update ``state``: escalate once per ``timeout`` of silence."""
    if now - last_advert < timeout:
        state.stage = 0
        return "none"
    if state.stage > 0 and now - state.last_action < timeout * min(state.stage, 4):
        return "none"
    state.stage += 1
    state.last_action = now
    state.recoveries += 1
    return "restart_scan" if state.stage == 1 else "power_cycle"


class PowerControl(Protocol):
    async def power_cycle(self, adapter: str) -> None: ...


class BlueZPowerControl:
    """Power an adapter off and on through BlueZ (``org.bluez.Adapter1.Powered``)."""

    async def _set_powered(self, adapter: str, *, powered: bool) -> None:
        from dbus_fast import BusType, Variant
        from dbus_fast.aio import MessageBus
        from dbus_fast.errors import DBusError

        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, DBusError) as exc:
            raise AdapterError(adapter, f"cannot reach BlueZ on the system D-Bus: {exc}") from exc
        try:
            path = f"/org/bluez/{adapter}"
            introspection = await bus.introspect("org.bluez", path)
            proxy = bus.get_proxy_object("org.bluez", path, introspection)
            props = proxy.get_interface("org.freedesktop.DBus.Properties")
            await props.call_set("org.bluez.Adapter1", "Powered", Variant("b", powered))  # type: ignore[attr-defined]
        except DBusError as exc:
            raise AdapterError(adapter, f"cannot set Powered={powered}: {exc}") from exc
        finally:
            bus.disconnect()

    async def power_cycle(self, adapter: str) -> None:
        import asyncio

        log.warning("%s: power-cycling the adapter through BlueZ", adapter)
        await self._set_powered(adapter, powered=False)
        await asyncio.sleep(1.0)
        await self._set_powered(adapter, powered=True)
