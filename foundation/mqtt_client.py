"""aiomqtt's client with waits that never lose a cancellation (see foundation/waiting.py).

Used by the edge publisher and the hub's alert notifications; only those import it, so
foundation itself needs no MQTT library.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any

import aiomqtt

from foundation.waiting import wait_for


class MqttClient(aiomqtt.Client):
    """aiomqtt's client whose every wait (CONNACK, PUBACK, SUBACK, the end of the connection)
    goes through :func:`wait_for`, so a cancellation that comes with a reply still raises."""

    async def _wait_for(self, fut: Awaitable[Any], timeout: float | None) -> Any:  # noqa: ASYNC109
        seconds = self.timeout if timeout is None else timeout
        try:
            return await wait_for(fut, None if seconds == math.inf else seconds)
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None
