"""Metrics, the RDP accountant wrapper, and the masked-vector screen, without Flower runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fl.model import alerts_per_100_per_week, auprc, auroc
from fl.privacy import epsilon_spent, local_sigma, noise_multiplier_for


def test_auroc_and_auprc_against_hand_computed_values() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    assert auroc(y, s) == 0.75
    assert auprc(y, s) == pytest.approx((1 / 1 + 2 / 3) / 2)
    # 7 resident-days = 1 resident-week; catching both positives needs 3 alerts
    y7 = np.array([0, 0, 1, 1, 0, 0, 0])
    s7 = np.array([0.1, 0.4, 0.35, 0.8, 0.0, 0.0, 0.0])
    assert alerts_per_100_per_week(y7, s7, 1.0) == pytest.approx(300.0)


def test_epsilon_accounting_per_round_and_total() -> None:
    z = noise_multiplier_for(3.0, 5)
    assert epsilon_spent(z, 5) <= 3.0
    assert epsilon_spent(z * 0.99, 5) > 3.0 - 0.1  # the smallest noise for the budget
    per_round = [epsilon_spent(z, r) for r in range(1, 6)]
    assert per_round == sorted(per_round)
    assert per_round[0] < 3.0 / 2  # composition is sub-linear under RDP
    assert math.isinf(epsilon_spent(0.0, 5))
    # the sum of m hubs' noise has standard deviation z * clip
    assert local_sigma(z, 1.0, 4) * math.sqrt(4) == pytest.approx(z)
    with pytest.raises(ValueError, match="must be positive"):
        noise_multiplier_for(0.0, 5)


def _reply(vectors: object) -> object:
    from flwr.app import ConfigRecord, RecordDict
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key

    record = ConfigRecord({Key.MASKED_PARAMETERS: vectors})  # type: ignore[dict-item]
    return RecordDict({RECORD_KEY_CONFIGS: record})


def test_masked_vector_screen_refuses_malformed_and_oversized_vectors() -> None:
    pytest.importorskip("flwr")
    from flwr.compat.common.parameter import ndarray_to_bytes

    from fl.app import check_masked_content
    from fl.model import N_PARAMS

    factor = ndarray_to_bytes(np.array([7], dtype=np.int64))
    good = ndarray_to_bytes(np.arange(N_PARAMS, dtype=np.int64))
    assert check_masked_content(_reply([factor, good])) is None  # type: ignore[arg-type]
    cases = {
        "weight factor and one parameter array": [factor],
        "shapes": [factor, ndarray_to_bytes(np.arange(N_PARAMS + 1, dtype=np.int64))],
        "not integer": [factor, ndarray_to_bytes(np.zeros(N_PARAMS))],
        "does not decode": [factor, b"garbage"],
        "over the limit": [factor, good + b"\0" * 100_000],
    }
    for reason, vectors in cases.items():
        refusal = check_masked_content(_reply(vectors))  # type: ignore[arg-type]
        assert refusal is not None, reason
        assert reason in refusal, (reason, refusal)
