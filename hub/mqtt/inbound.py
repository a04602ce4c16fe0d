"""One received message, as the transports (MQTT, and the vendors' HTTPS) hand it to ingest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Inbound"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message; ``handle`` is the transport's opaque acknowledgement handle.

    ``verdict`` is the MQTT relay's verdict on the payload (its judge's bytes), if it gave
    one; ingest then decodes it instead of judging the payload again.
    """

    topic: str
    payload: bytes
    received: datetime
    transport: Literal["mqtt", "http"] = "mqtt"
    retained: bool = False
    handle: object = None
    verdict: bytes | None = None
