"""The Flower ServerApp and ClientApp: FedAvg or FedProx over SecAgg+, client-side DP.

Server: Flower's legacy-strategy workflow (``DefaultWorkflow``) with the SecAgg+ fit
workflow, so the coordinator only ever sees the sum of the masked updates. Replies in the
masked-vector stage are screened (:class:`ScreenedSecAggPlus`): a malformed or oversized
vector is refused, and SecAgg+ treats that organisation as dropped out (its masks are
reconstructed from the others' shares), so the round completes on the rest. A hub that
stops answering is dropped the same way after ``timeout``.

Client: a hub's :class:`HubClient` trains the logistic regression on its own samples; the
mods ``secaggplus_mod`` (outer) and :class:`ConfiguredLocalDp` (inner: Flower's
``LocalDpMod``, clipping and Gaussian noise, with the hub's own settings) run before
anything leaves the hub.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.client import Client, NumPyClient
from flwr.client.mod import LocalDpMod, secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Config, NDArrays, Scalar, ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
from flwr.compat.common.parameter import bytes_to_ndarray
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAvg, FedProx
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.serverapp import Grid, ServerApp

from fl.dataset import Samples
from fl.model import N_PARAMS, TrainConfig, initial_params, train
from fl.privacy import epsilon_spent, local_sigma

__all__ = [
    "ConfiguredLocalDp",
    "FedConfig",
    "FedResult",
    "HubClient",
    "Mod",
    "ScreenedSecAggPlus",
    "check_masked_content",
    "check_masked_vector",
    "make_client_app",
    "make_server_app",
]

log = logging.getLogger(__name__)

Mod = Callable[[Message, Context, ClientAppCallable], Message]

MAX_WEIGHT = 100_000
CLIPPING_RANGE = 16.0  # SecAgg+ quantisation range of a parameter value
MAX_UPDATE_BYTES = 64 * 1024  # a masked vector of this model is well under 1 KiB


@dataclass(frozen=True)
class FedConfig:
    """One federated training run (the coordinator's side; DP noise is also each hub's)."""

    rounds: int = 10
    min_clients: int = 2  # organisations to wait for before a round starts
    threshold: int = 2  # fewest updates SecAgg+ will sum (and DP noise is sized for)
    steps: int = 60
    lr: float = 0.5
    prox_mu: float = 0.0  # > 0: FedProx
    clip: float = 0.0  # > 0: clip updates to this L2 norm
    noise_multiplier: float = 0.0  # > 0: Gaussian noise, see fl.privacy
    timeout: float = 120.0

    @property
    def dp(self) -> bool:
        return self.clip > 0 and self.noise_multiplier > 0


@dataclass
class FedResult:
    """What the coordinator learnt: the global parameters and, per round, how many
    organisations' updates were summed and how many were refused."""

    params: list[float]
    rounds: list[dict[str, float]] = field(default_factory=list)
    epsilon_total: float = math.inf
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), allow_nan=True)


class HubClient(NumPyClient):
    """Trains on one hub's samples; sends only parameters (and a count)."""

    def __init__(self, samples: Samples, uniform_weight: bool) -> None:
        self.samples = samples
        self.uniform_weight = uniform_weight

    def fit(self, parameters: NDArrays, config: Config) -> tuple[NDArrays, int, dict[str, Scalar]]:
        if len(parameters) != 1 or parameters[0].shape != (N_PARAMS,):
            raise ValueError(f"global model of shapes {[p.shape for p in parameters]} refused")
        cfg = TrainConfig(
            steps=int(config.get("steps", 60)),
            lr=float(config.get("lr", 0.5)),
            prox_mu=float(config.get("proximal_mu", 0.0)),
        )
        new = train(parameters[0].astype(float), self.samples.x, self.samples.y, cfg)
        # Uniform weights are MAX_WEIGHT, not 1: SecAgg+ quantises weight/MAX_WEIGHT x
        # parameters, so a weight of 1 left ~1.3 levels per unit (the average in steps of
        # 0.38, a trained weight often rounded to exactly 0).
        weight = MAX_WEIGHT if self.uniform_weight else min(len(self.samples), MAX_WEIGHT)
        return [new], max(weight, 1), {}

    def evaluate(
        self,
        parameters: NDArrays,  # noqa: ARG002
        config: Config,  # noqa: ARG002
    ) -> tuple[float, int, dict[str, Scalar]]:
        return 0.0, 1, {}  # evaluation is the report's (fl.report), not the federation's


class ConfiguredLocalDp:
    """Flower's ``LocalDpMod`` with settings from the hub: ``(clip, sigma)`` where sigma is
    the Gaussian noise standard deviation; ``LocalDpMod`` draws noise of
    ``sensitivity·sqrt(2 ln(1.25/δ))/ε``, so ε is set to give exactly that sigma."""

    def __init__(self, settings: Callable[[Context], tuple[float, float]]) -> None:
        self.settings = settings

    def __call__(self, msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        clip, sigma = self.settings(ctxt)
        if clip <= 0 or sigma <= 0:
            return call_next(msg, ctxt)
        delta = 1e-5
        eps = clip * math.sqrt(2 * math.log(1.25 / delta)) / sigma
        return LocalDpMod(clip, clip, eps, delta)(msg, ctxt, call_next)


def make_client_app(
    load: Callable[[Context], Samples],
    dp_settings: Callable[[Context], tuple[float, float]],
    extra_mods: list[Mod] | None = None,
) -> ClientApp:
    """A ClientApp whose node loads its samples with ``load`` and takes its DP settings
    from ``dp_settings``; ``extra_mods`` run outermost (tests spy on messages with them)."""

    def client_fn(context: Context) -> Client:
        clip, sigma = dp_settings(context)
        return HubClient(load(context), uniform_weight=clip > 0 and sigma > 0).to_client()

    mods: list[Mod] = [*(extra_mods or []), secaggplus_mod, ConfiguredLocalDp(dp_settings)]
    return ClientApp(client_fn=client_fn, mods=mods)


def simulation_dp(cfg: FedConfig) -> Callable[[Context], tuple[float, float]]:
    """DP settings every simulated hub uses: the run's clip and per-hub sigma."""
    sigma = local_sigma(cfg.noise_multiplier, cfg.clip, cfg.threshold) if cfg.dp else 0.0
    clip = cfg.clip

    def settings(_: Context) -> tuple[float, float]:
        return clip, sigma

    return settings


def check_masked_vector(msg: Message) -> str | None:
    """Why a SecAgg+ masked-vector reply is refused, or None when it is well formed."""
    return check_masked_content(msg.content)


def check_masked_content(content: RecordDict, expected: int = N_PARAMS) -> str | None:
    """:func:`check_masked_vector` on a reply's content."""
    try:
        res = content.config_records[RECORD_KEY_CONFIGS]
        vectors = cast("list[bytes]", res[Key.MASKED_PARAMETERS])
    except (KeyError, TypeError) as exc:
        return f"no masked vector ({exc})"
    size = sum(len(b) for b in vectors) if isinstance(vectors, list) else 0
    if not isinstance(vectors, list) or len(vectors) != 2:
        return "masked vector must be the weight factor and one parameter array"
    if size > MAX_UPDATE_BYTES:
        return f"masked vector of {size} bytes is over the limit of {MAX_UPDATE_BYTES}"
    try:
        arrays = [bytes_to_ndarray(b) for b in vectors]
    except (ValueError, TypeError, OSError) as exc:
        return f"masked vector does not decode ({exc})"
    if [a.shape for a in arrays] != [(1,), (expected,)]:
        return f"masked vector of shapes {[a.shape for a in arrays]}, want [(1,), ({expected},)]"
    if any(a.dtype.kind not in "iu" for a in arrays):
        return "masked vector is not integer"
    return None


class _ScreenedGrid:
    """The grid, with replies that fail ``check`` left out (and counted)."""

    def __init__(self, grid: Grid, check: Callable[[Message], str | None]) -> None:
        self._grid = grid
        self._check = check
        self.refused: list[str] = []

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> list[Message]:
        kept = []
        for reply in self._grid.send_and_receive(messages, timeout=timeout):
            reason = None if reply.has_error() else self._check(reply)
            if reason is None:
                kept.append(reply)
            else:
                node = reply.metadata.src_node_id
                log.warning("refused the update of node %s: %s", node, reason)
                self.refused.append(f"node {node}: {reason}")
        return kept

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


class ScreenedSecAggPlus(SecAggPlusWorkflow):
    """SecAgg+ whose masked-vector stage refuses malformed or oversized replies, and which
    records per round how many updates were summed and refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rounds: list[dict[str, float]] = []
        self._refused = 0

    def collect_masked_vectors_stage(self, grid: Grid, context: LegacyContext, state: Any) -> bool:
        screened = _ScreenedGrid(grid, check_masked_vector)
        ok = super().collect_masked_vectors_stage(cast("Grid", screened), context, state)
        self._refused = len(screened.refused)
        return bool(ok)

    def unmask_stage(self, grid: Grid, context: LegacyContext, state: Any) -> bool:
        summed = len(state.legacy_results)
        before = context.state.array_records.get(MAIN_PARAMS_RECORD)
        ok = bool(super().unmask_stage(grid, context, state))
        if ok and context.state.array_records.get(MAIN_PARAMS_RECORD) is before:
            log.error("round summed %s updates but the strategy kept the old model", summed)
            ok = False  # the global model is unchanged: a failed round, not a summed one
        self.rounds.append({"summed": summed if ok else 0, "refused": self._refused})
        return ok


def run_server(grid: Grid, context: Context, cfg: FedConfig) -> FedResult:
    """Run ``cfg.rounds`` rounds of FedAvg (FedProx when ``prox_mu`` > 0) over SecAgg+."""
    kind = FedProx if cfg.prox_mu > 0 else FedAvg
    extra: dict[str, Any] = {"proximal_mu": cfg.prox_mu} if cfg.prox_mu > 0 else {}

    def fit_config(server_round: int) -> dict[str, Scalar]:
        return {"round": server_round, "steps": cfg.steps, "lr": cfg.lr}

    strategy = kind(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=cfg.min_clients,
        min_available_clients=cfg.min_clients,
        initial_parameters=ndarrays_to_parameters([initial_params()]),
        on_fit_config_fn=fit_config,
        **extra,
    )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=cfg.rounds), strategy=strategy
    )
    if not 2 <= cfg.threshold <= cfg.min_clients:
        raise ValueError(f"threshold {cfg.threshold} must be between 2 and min_clients")
    secagg = ScreenedSecAggPlus(
        num_shares=1.0,
        reconstruction_threshold=cfg.threshold,
        max_weight=MAX_WEIGHT,
        clipping_range=CLIPPING_RANGE,
        timeout=cfg.timeout,
    )
    DefaultWorkflow(fit_workflow=secagg)(grid, legacy)
    arrays = legacy.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()
    rounds = []
    for i, r in enumerate(secagg.rounds, start=1):
        spent = epsilon_spent(cfg.noise_multiplier, i) if cfg.dp else math.inf
        rounds.append({"round": i, **r, "epsilon_total": spent})
    eps = epsilon_spent(cfg.noise_multiplier, len(rounds)) if cfg.dp else math.inf
    return FedResult([float(v) for v in np.asarray(arrays[0]).ravel()], rounds, eps, asdict(cfg))


def make_server_app(cfg: FedConfig, sink: Callable[[FedResult], None]) -> ServerApp:
    """A ServerApp that runs :func:`run_server` with ``cfg`` and hands the result to ``sink``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        sink(run_server(grid, context, cfg))

    return app
