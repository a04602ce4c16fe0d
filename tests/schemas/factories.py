"""Small builders of valid messages for the schema tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def observation(i: int = 0, publisher: str = "gw-1", **over: Any) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "id": f"obs-{i}",
        "source": {
            "publisher": publisher,
            "gateway": publisher,
            "device": {"id": "ble-AABBCCDDEEFF", "address": "AA:BB:CC:DD:EE:FF"},
        },
        "code": [{"system": "urn:iso:std:iso:11073:10101", "code": "150456"}],
        "effective": "2026-11-28T08:59:00Z",
        "value": "97",
        "unit": "%",
    }
    obs.update(over)
    return obs


def batch(n: int = 1, publisher: str = "gw-1", **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": "hjem/1",
        "message_id": "m-1",
        "publisher": publisher,
        "sent": "2026-11-28T09:00:00Z",
        "observations": [observation(i, publisher) for i in range(n)],
    }
    out.update(over)
    return out
