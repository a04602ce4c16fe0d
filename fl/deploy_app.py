"""The components of the Flower App run by the deployment engine (``fl/flwr_app``).

ServerApp: the run configuration (``[tool.flwr.app.config]``, overridable per run) gives
rounds, organisations, SecAgg+ threshold and training settings; the result (global model and
per-round figures) is written as JSON to ``out``.

ClientApp: each hub's SuperNode says, in its own ``--node-config``, where its training
samples are (``data``: a file written by ``hjem fl prepare``) and its own DP settings
(``dp-clip``, ``dp-sigma``): the coordinator cannot turn a hub's noise off.
"""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fl.app import FedConfig, FedResult, make_client_app, run_server
from fl.dataset import Samples

__all__ = ["client_app", "server_app"]


def _load(context: Context) -> Samples:
    path = context.node_config.get("data")
    if not isinstance(path, str) or not path:
        raise ValueError("this SuperNode has no node-config 'data' (its training-set file)")
    return Samples.load(Path(path))


def _dp(context: Context) -> tuple[float, float]:
    clip = float(context.node_config.get("dp-clip", 0.0))
    sigma = float(context.node_config.get("dp-sigma", 0.0))
    return clip, sigma


def _config(context: Context) -> FedConfig:
    rc = context.run_config
    return FedConfig(
        rounds=int(rc["rounds"]),
        min_clients=int(rc["min-clients"]),
        threshold=int(rc["threshold"]),
        steps=int(rc["steps"]),
        lr=float(rc["lr"]),
        prox_mu=float(rc["prox-mu"]),
        timeout=float(rc["timeout"]),
    )


client_app = make_client_app(_load, _dp)
server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    result: FedResult = run_server(grid, context, _config(context))
    out = str(context.run_config.get("out", ""))
    if out:  # whole or not at all: whoever waits for the file reads it once it exists
        part = Path(f"{out}.part")
        part.write_text(result.to_json())
        part.replace(out)
