"""Liveness between the hub and its MQTT relay process (pure; the clock is passed in).

The relay's main thread sends an ``("alive",)`` frame every ``interval_s``; the hub, when it
waits for data and hears nothing at all for its ``relay_silence_s``, stops the relay and
fails (:class:`hub.mqtt.connection.MqttConnection`), so a relay that hangs without exiting
(stopped, or stuck in its writer) ends the hub with a clear line, as a relay that dies does.

The main thread could stay lively while paho's network thread is stuck, so :class:`Progress`
also watches that thread: while connected, paho calls ``loop_misc`` at least once a second;
if that count stands still for ``stuck_after_s`` (six heartbeats, at least 15 s) while the
relay is not waiting for the hub (back pressure is a legitimate reason to stand still), the
relay reports a fatal error and exits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["STUCK_AFTER_MIN_S", "Progress"]

STUCK_AFTER_MIN_S = 15.0
"""At least this long without progress before paho's thread counts as stuck: idle, its loop
runs once a second (its select timeout), and a burst of large messages takes a while."""

Verdict = Literal["quiet", "alive", "stuck"]


@dataclass(slots=True)
class Progress:
    """Decides, at each wake-up of the relay's main thread, what to tell the hub."""

    interval_s: float
    stuck_after_s: float
    _last_sent: float = field(default=float("-inf"))
    _last_count: int = -1
    _since: float = 0.0

    def tick(self, now: float, *, count: int, connected: bool, waiting_for_hub: bool) -> Verdict:
        """``count``: paho's loop iterations so far. Returns what to send (if anything)."""
        if count != self._last_count or not connected or waiting_for_hub:
            self._last_count, self._since = count, now
        elif now - self._since >= self.stuck_after_s:
            return "stuck"
        if now - self._last_sent >= self.interval_s:
            self._last_sent = now
            return "alive"
        return "quiet"
