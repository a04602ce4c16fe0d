"""``hjem demo``: the whole stack on this machine (broker, hub, dashboard, edge on a virtual radio).

Until every part is present, it runs the parts that exist and says which are missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from hjem.cli import CliError
    from hjem.mosquitto import BrokerError, Mosquitto

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hjem-demo-"))
    print(f"[demo] working directory {workdir}", flush=True)
    try:
        broker = Mosquitto(workdir=workdir / "mosquitto", port=args.mqtt_port).start()
    except BrokerError as exc:
        raise CliError(str(exc)) from exc
    print(f"[demo] Mosquitto listening on {broker.url}", flush=True)
    for part in ("hub.service", "edge.agent"):
        if importlib.util.find_spec(part) is None:
            print(f"[demo] {part} is not part of this version yet", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print("[demo] running; press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        print("[demo] stopped", flush=True)
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--workdir", help="keep state here (default: a new temporary directory)")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="broker port on 127.0.0.1")
    return _run
