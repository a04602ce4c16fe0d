"""A simulated federation run in its own process (Ray and its warnings stay out of pytest).

usage: python tests/fl/sim_job.py OUT.json WORKDIR [--faults]

With ``--faults``: partition 1 sends an oversized masked vector in round 2, partition 2
fails (drops out) in the masked-vector stage of round 3, and every partition's outgoing
messages are recorded in WORKDIR/spy (what leaves a hub).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
from flwr.app import ConfigRecord, Context, Message
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage

from fl.app import FedConfig
from fl.cohort import HELD_OUT, load_synth_cohort, organisation_samples
from fl.dataset import Samples
from fl.model import TrainConfig, auroc, initial_params, predict, train
from fl.simulate import simulate

SEED, RESIDENTS, DAYS, ROUNDS, STEPS, LR = 11, 1000, 60, 3, 200, 1.0


def _stage(msg: Message) -> str:
    try:
        return str(msg.content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])
    except KeyError:
        return ""


class Faults:
    """Outermost client mod: records what leaves the hub; injects the faults above."""

    def __init__(self, spy: Path) -> None:
        self.spy = spy

    def __call__(self, msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        pid = int(ctxt.node_config["partition-id"])
        stage, group = _stage(msg), msg.metadata.group_id
        if pid == 2 and stage == Stage.COLLECT_MASKED_VECTORS and group == "3":
            raise RuntimeError("hub 2 goes away in the middle of round 3")
        reply = call_next(msg, ctxt)
        if pid == 1 and stage == Stage.COLLECT_MASKED_VECTORS and group == "2":
            res = reply.content.config_records[RECORD_KEY_CONFIGS]
            vecs = list(res[Key.MASKED_PARAMETERS])  # type: ignore[arg-type]
            vecs[1] = vecs[1] + b"\0" * 100_000
            reply.content.config_records[RECORD_KEY_CONFIGS] = ConfigRecord(
                {**dict(res), Key.MASKED_PARAMETERS: vecs}
            )
        record = {
            "partition": pid,
            "stage": stage,
            "round": group,
            "arrays": {k: len(v) for k, v in reply.content.array_records.items()},
            "metrics": {k: dict(v) for k, v in reply.content.metric_records.items()},
            "configs": {k: dict(v) for k, v in reply.content.config_records.items()},
        }
        name = f"{pid}-{group}-{stage}-{len(list(self.spy.iterdir()))}.pickle"
        (self.spy / name).write_bytes(pickle.dumps(record))
        return reply


def main() -> None:
    out, workdir, faults = Path(sys.argv[1]), Path(sys.argv[2]), "--faults" in sys.argv
    parts = organisation_samples(load_synth_cohort(RESIDENTS, DAYS, SEED))
    test = parts.pop(HELD_OUT)
    if faults:
        parts = dict(list(parts.items())[:4])
    spy = workdir / "spy"
    spy.mkdir(parents=True, exist_ok=True)
    mods = [Faults(spy)] if faults else None
    cfg = FedConfig(
        rounds=ROUNDS, min_clients=len(parts), threshold=2, steps=STEPS, lr=LR, timeout=60
    )
    result = simulate(parts, cfg, workdir / "parts", mods)
    fed = auroc(test.y, predict(np.array(result.params), test.x))
    alone = TrainConfig(steps=STEPS * ROUNDS, lr=LR)
    local = {
        name: auroc(test.y, predict(train(initial_params(), s.x, s.y, alone), test.x))
        for name, s in parts.items()
    }
    pooled = Samples.concat(list(parts.values()))
    pool = auroc(test.y, predict(train(initial_params(), pooled.x, pooled.y, alone), test.x))
    summary = {"federated": fed, "pooled": pool, "local": local, "rounds": result.rounds}
    out.write_text(json.dumps({**summary, "params": result.params}))


if __name__ == "__main__":
    main()
