"""``hjem bench``: benchmarks that print figures, each side by side with its named peer.

Benchmarks are not tests: they print what they measured (and the peer measured in the same
run) so that a reader can judge; nothing here fails on a number. Each part adds its
benchmarks to :data:`BENCHMARKS` as ``name -> "module:function"``; the function takes no
arguments and prints its own report.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable

__all__ = ["BENCHMARKS", "register", "run"]

BENCHMARKS: dict[str, tuple[str, str]] = {
    "agent": (
        "edge.bench_agent:agent",
        "edge agent CPU and peak RSS, 50 virtual devices at 1 advert/s, vs the virtual radio alone",
    ),
    "outbox": (
        "edge.bench_agent:outbox",
        "outbox drain of 100,000 observations into Mosquitto, vs plain paho QoS 1",
    ),
    "ingest": (
        "hub.bench_ingest:ingest_throughput",
        "hub MQTT ingest end to end (validated, committed, acked) vs a raw paho QoS 1 subscriber",
    ),
    "schema-validate": (
        "schemas.bench:validate_throughput",
        "batch validation, observations/s, vs jsonschema on the same payloads",
    ),
    "decode": (
        "edge.bench_decode:decode_throughput",
        "edge decoders, decodes/s on a mixed corpus, vs bthome-ble on the same BTHome payloads",
    ),
    "alerts": (
        "hub.bench_alerts:latency",
        (
            "MQTT observation -> alert event on the SSE stream, p50/p99 at 1,000 obs/s "
            "background, vs the plain MQTT relay floor"
        ),
    ),
}


def run(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        from hjem.cli import CliError

        raise CliError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for name in names or list(BENCHMARKS):
        target, description = BENCHMARKS[name]
        module_name, func_name = target.split(":")
        func: Callable[[], None] = getattr(importlib.import_module(module_name), func_name)
        print(f"\n=== {name}: {description}", flush=True)
        started = time.perf_counter()
        func()
        print(f"--- {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    return lambda args: run(list(args.names))
