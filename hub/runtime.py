"""Process-wide settings shared by the hub's processes (the hub and its MQTT relay)."""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc() -> None:
    """Garbage-collector settings for a process that decodes messages at a high rate.

    Ingest allocates many short-lived objects per observation (decoded structs, pydantic
    models); with the default gen-0 threshold of 700 the cyclic collector runs every few
    messages and walks everything alive, which halved ingest throughput in measurements.
    Startup objects are frozen out of collection, and collections start after 50,000
    allocations. Called by ``hjem hub run`` and by the MQTT relay when it judges messages.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
