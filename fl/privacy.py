"""Differential privacy of the federated model: noise for a target ε and ε spent.

Mechanism (DP-FedAvg, McMahan et al. 2018, "Learning differentially private recurrent
language models", ICLR): every organisation clips its model update to L2 norm ``C`` and adds
Gaussian noise N(0, (z·C/√m)²) per coordinate (Flower's ``LocalDpMod``, client side); SecAgg+
lets the coordinator see only the sum of at least ``m`` updates, which then carries noise of
standard deviation ≥ z·C while one organisation changes it by at most ``C``: the Gaussian
mechanism with noise multiplier ``z`` per round, at organisation level (all of one
organisation's residents). Every organisation takes part in every round (no sampling), so
``R`` rounds compose ``R`` Gaussian mechanisms; ε at a given δ comes from the Rényi-DP
accountant of Google's ``dp-accounting`` (Mironov 2017, "Rényi differential privacy",
Prop. 7 and Cor. 3: ε_RDP(α) = α / (2 z²) per round, composed additively, converted with
ε = ε_RDP(α) + log(1/δ)/(α − 1) minimised over α).
"""

from __future__ import annotations

import math

__all__ = ["DELTA", "epsilon_spent", "local_sigma", "noise_multiplier_for"]

DELTA = 1e-5


def epsilon_spent(noise_multiplier: float, rounds: int, delta: float = DELTA) -> float:
    """ε after ``rounds`` Gaussian mechanisms of noise multiplier ``z`` (inf without noise)."""
    if rounds <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    import dp_accounting

    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
    return float(accountant.get_epsilon(delta))


def noise_multiplier_for(epsilon: float, rounds: int, delta: float = DELTA) -> float:
    """The smallest noise multiplier (to 0.1 %) for which ``rounds`` rounds spend ≤ ``epsilon``."""
    if epsilon <= 0 or rounds <= 0:
        raise ValueError(f"epsilon ({epsilon}) and rounds ({rounds}) must be positive")
    lo, hi = 0.05, 1.0
    while epsilon_spent(hi, rounds, delta) > epsilon:
        hi *= 2
    while hi - lo > 1e-3 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if epsilon_spent(mid, rounds, delta) > epsilon else (lo, mid)
    return hi


def local_sigma(noise_multiplier: float, clip: float, min_participants: int) -> float:
    """Per-organisation noise standard deviation so that the sum of ``min_participants``
    updates carries noise ``noise_multiplier * clip``."""
    return noise_multiplier * clip / math.sqrt(max(min_participants, 1))
