"""A round of the real coordinator workflow (fl.app.run_server: FedAvg, SecAgg+) with two
real hub ClientApps (SecAgg+ and local DP mods) in this process, messages copied between
them: what the coordinator learns is the hubs' average, and a round that does not change
the model is not reported as summed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.server.strategy import FedAvg
from flwr.supercore.task_identity import TaskIdentity

from fl.app import FedConfig, make_client_app, run_server
from fl.model import TrainConfig, initial_params, train
from tests.fl.support import LocalGrid, node_context, signal_samples

HUBS = {11: signal_samples(0), 12: signal_samples(1)}
CFG = FedConfig(rounds=1, min_clients=2, threshold=2, steps=50, lr=2.0, timeout=5)


@pytest.fixture(autouse=True)
def task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages are stamped with the process's task identity (set by Flower's runtime)."""
    for name in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, name, 1)


def _round(clip: float, sigma: float) -> tuple[list[float], list[dict[str, float]]]:
    app = make_client_app(lambda c: HUBS[c.node_id], lambda _: (clip, sigma))
    result = run_server(LocalGrid(app, HUBS), node_context(0), CFG)
    return result.params, result.rounds


def test_dp_hubs_average_survives_secure_aggregation() -> None:
    params, rounds = _round(clip=1.0, sigma=1e-3)
    assert rounds[0]["summed"] == 2, rounds
    # each hub's update clipped to norm 1 (noise sigma 0.001), averaged with equal weights
    cfg = TrainConfig(steps=CFG.steps, lr=CFG.lr)
    updates = [train(initial_params(), s.x, s.y, cfg) for s in HUBS.values()]
    expected = np.mean([u / max(1.0, float(np.linalg.norm(u))) for u in updates], axis=0)
    # a weight of 1 in 100,000 quantised the average to steps of 0.38 (first weight 0.0)
    np.testing.assert_allclose(params, expected, atol=0.01)


def test_round_that_keeps_the_old_model_is_a_failed_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FedAvg, "aggregate_fit", lambda *_: (None, {}))
    params, rounds = _round(clip=0.0, sigma=0.0)
    assert rounds == [{"round": 1, "summed": 0, "refused": 0, "epsilon_total": np.inf}]
    assert params == list(initial_params())
