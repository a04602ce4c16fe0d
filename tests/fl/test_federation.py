"""The federation in Flower's simulation engine (each run in its own process, ~20 s).

Figures are on a fixed seed (synthetic cohort of 1,000 residents x 60 days, five
organisations of different sizes and case mixes, one held-out organisation for testing).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")
pytest.importorskip("synth.cohort")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(tmp_path: Path, *flags: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests/fl/sim_job.py"), str(out), str(tmp_path), *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def test_federated_model_beats_local_only_training(tmp_path: Path) -> None:
    result = _run(tmp_path)
    fed, local = result["federated"], result["local"]
    assert [r["summed"] for r in result["rounds"]] == [5, 5, 5]
    # better than an organisation training alone on average, and than every small one
    assert fed > sum(local.values()) / len(local) + 0.02, result
    assert fed > max(local["org-d-small"], local["org-e-small"]) + 0.05, result
    # and as good as pooling everyone's data (which no one may do)
    assert abs(fed - result["pooled"]) < 0.01, result


def test_refused_update_and_dropout_do_not_stall_or_corrupt_rounds(tmp_path: Path) -> None:
    result = _run(tmp_path, "--faults")
    rounds = result["rounds"]
    assert len(rounds) == 3, rounds
    assert rounds[0] == {"round": 1, "summed": 4, "refused": 0, "epsilon_total": math.inf}
    # round 2: hub 1's oversized vector is refused, the other three are summed
    assert (rounds[1]["summed"], rounds[1]["refused"]) == (3, 1)
    # round 3: hub 2 drops out mid-round, its masks are removed with the others' shares
    assert (rounds[2]["summed"], rounds[2]["refused"]) == (3, 0)
    assert all(math.isfinite(v) and abs(v) < 16 for v in result["params"])
    assert result["federated"] > 0.7  # a useful model, not the sum of garbage

    # What left each hub: only SecAgg+ protocol values and the masked vector
    records = [pickle.loads(p.read_bytes()) for p in (tmp_path / "spy").iterdir()]
    assert {r["partition"] for r in records} == {0, 1, 2, 3}
    from flwr.common.secure_aggregation.secaggplus_constants import Key

    # protocol keys a hub sends (never Key.PARAMETERS: parameters in clear)
    sent = (
        "STAGE",
        "PUBLIC_KEY_1",
        "PUBLIC_KEY_2",
        "DESTINATION_LIST",
        "CIPHERTEXT_LIST",
        "MASKED_PARAMETERS",
        "NODE_ID_LIST",
        "SHARE_LIST",
    )
    allowed = {getattr(Key, k) for k in sent}
    for r in records:
        assert all(n == 0 for n in r["arrays"].values()), r  # no parameters in clear
        # a count of samples (a fixed weight under DP), nothing measured
        assert set(r["metrics"]) <= {"fitres.num_examples", "fitres.metrics"}, r
        assert not r["metrics"].get("fitres.metrics"), r
        assert set(r["configs"]) <= {"secaggplus_configs", "fitres.status", "fitres.metrics"}, r
        assert not r["configs"].get("fitres.metrics"), r
        assert set(r["configs"].get("fitres.status", {})) <= {"code", "message"}, r
        keys = set(r["configs"]["secaggplus_configs"])
        assert keys <= allowed, keys - allowed
    masked = [r for r in records if r["stage"] == "collect_masked_vectors"]
    assert masked
    from flwr.compat.common.parameter import bytes_to_ndarray

    for r in masked:
        vec = bytes_to_ndarray(r["configs"]["secaggplus_configs"][Key.MASKED_PARAMETERS][1])
        # uniformly spread over the 2^32 ring, nothing like parameters (|w| < 16)
        assert vec.min() >= 0, vec
        assert vec.max() > 2**20, vec
