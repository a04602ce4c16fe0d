"""``hjem fl simulate``: the whole federation on one machine with Flower's simulation engine.

Each organisation becomes one simulated SuperNode (a Ray actor) that loads only its own
samples file; the ServerApp runs in this process and gets the same SecAgg+ and DP treatment
as in deployment (:mod:`fl.app`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from flwr.app import Context

from fl.app import FedConfig, FedResult, Mod, make_client_app, make_server_app, simulation_dp
from fl.dataset import Samples

__all__ = ["simulate"]

log = logging.getLogger(__name__)


def _loader(files: list[str]) -> Callable[[Context], Samples]:
    def load(context: Context) -> Samples:
        return Samples.load(Path(files[int(context.node_config["partition-id"])]))

    return load


def simulate(
    parts: Mapping[str, Samples],
    cfg: FedConfig,
    workdir: Path,
    extra_mods: list[Mod] | None = None,
) -> FedResult:
    """Train over ``parts`` (organisation -> its samples) with ``cfg``; the organisations'
    files go to ``workdir``, one per simulated hub."""
    from flwr.simulation import run_simulation

    if len(parts) < cfg.min_clients:
        raise ValueError(f"{len(parts)} organisations, fewer than min_clients={cfg.min_clients}")
    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, samples in enumerate(parts.values()):
        path = workdir / f"partition-{i}.npz"
        samples.save(path)
        files.append(str(path))
    results: list[FedResult] = []
    client_app = make_client_app(_loader(files), simulation_dp(cfg), extra_mods)
    server_app = make_server_app(cfg, results.append)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    run_simulation(
        server_app,
        client_app,
        num_supernodes=len(files),
        backend_config={
            "client_resources": {"num_cpus": 1},
            "init_args": {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
        },
    )
    if not results:
        raise RuntimeError("the simulated federation ended without a model (see the log)")
    return results[0]
