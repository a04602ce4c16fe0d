"""Residents, their conditions and homes, the devices they have, and the registry over time.

Everything is drawn per cohort with numpy arrays (one row per resident); see
docs/synthetic.md for the model and its sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from synth.params import CONDITIONS, Params

__all__ = ["KINDS", "Devices", "Population", "draw_population", "resident_ids"]

# Device kinds: (key, registry description, who publishes, manufacturer model)
KINDS: tuple[tuple[str, str, str, str], ...] = (
    ("bp", "blood-pressure cuff", "gateway", "SynthCare BP-1"),
    ("ox", "pulse oximeter", "gateway", "SynthCare OX-1"),
    ("th", "thermometer", "gateway", "SynthCare TH-1"),
    ("sc", "weighing scale", "gateway", "SynthCare SC-1"),
    ("gl", "glucose meter", "gateway", "SynthCare GL-1"),
    ("mbed", "motion sensor bedroom", "gateway", "SynthCare MS-1"),
    ("mbath", "motion sensor bathroom", "gateway", "SynthCare MS-1"),
    ("mkit", "motion sensor kitchen", "gateway", "SynthCare MS-1"),
    ("mliv", "motion sensor living room", "gateway", "SynthCare MS-1"),
    ("door", "front door contact", "gateway", "SynthCare DC-1"),
    ("fd", "fall detector", "vendor", "SynthCare FD-1"),
)
KIND_INDEX = {k[0]: i for i, k in enumerate(KINDS)}


@dataclass
class Population:
    """Per resident: index arrays (length N) and the (N, K) kit matrix."""

    n: int
    organisation: np.ndarray  # int, 0..K-1
    female: np.ndarray  # bool
    age: np.ndarray  # float years
    conditions: np.ndarray  # bool (N, 5), CONDITIONS order
    kit: np.ndarray  # bool (N, len(KINDS))
    adherence: np.ndarray  # float (N,)
    ids: list[str]

    def has(self, condition: str) -> np.ndarray:
        return self.conditions[:, CONDITIONS.index(condition)]


@dataclass
class Devices:
    """One row per device: resident, kind, organisation, assignment ``[start, end)`` (s)."""

    resident: np.ndarray  # int
    kind: np.ndarray  # int (index in KINDS)
    generation: np.ndarray  # int: 1 = first device, 2 = its replacement
    start: np.ndarray  # int64 epoch s
    end: np.ndarray  # int64 epoch s, -1 = open
    ids: list[str]


def resident_ids(seed: int, first: int, count: int) -> list[str]:
    """Pseudonymous ids ``r-`` + 16 hex, derived from the seed and the resident's index."""
    return [
        "r-" + hashlib.sha256(f"hjem-synth:{seed}:{i}".encode()).hexdigest()[:16]
        for i in range(first, first + count)
    ]


def _conditions(rng: np.random.Generator, params: Params, n: int) -> np.ndarray:
    """Correlated conditions: a multivariate probit with the given prevalences."""
    corr = np.asarray(params.condition_corr, dtype=float)
    eigen = np.linalg.eigvalsh(corr)
    if eigen.min() <= 0:
        corr = corr + np.eye(len(CONDITIONS)) * (1e-3 - eigen.min())
        corr /= np.sqrt(np.outer(np.diag(corr), np.diag(corr)))
    chol = np.linalg.cholesky(corr)
    latent = rng.standard_normal((n, len(CONDITIONS))) @ chol.T
    prevalence = np.array([params.prevalence[c] for c in CONDITIONS])
    threshold = np.asarray(norm.ppf(np.clip(prevalence, 1e-6, 1 - 1e-6)), dtype=float)
    return np.asarray(latent < threshold)


def _kit(rng: np.random.Generator, conditions: np.ndarray) -> np.ndarray:
    """Which devices each home has: cuff, thermometer and room sensors always."""
    n = conditions.shape[0]
    copd, hf, diabetes = conditions[:, 0], conditions[:, 1], conditions[:, 2]
    kit = np.zeros((n, len(KINDS)), dtype=bool)
    for key in ("bp", "th", "mbed", "mbath", "mkit", "mliv", "door"):
        kit[:, KIND_INDEX[key]] = True
    kit[:, KIND_INDEX["ox"]] = copd | hf | (rng.random(n) < 0.3)
    kit[:, KIND_INDEX["sc"]] = hf | (rng.random(n) < 0.4)
    kit[:, KIND_INDEX["gl"]] = diabetes
    kit[:, KIND_INDEX["fd"]] = rng.random(n) < 0.5
    return kit


def draw_population(
    rng: np.random.Generator, params: Params, n: int, organisations: int, *, first: int, seed: int
) -> Population:
    female = rng.random(n) < params.female_share
    age = np.clip(rng.normal(params.age_mean, params.age_sd, n), params.age_min, params.age_max)
    conditions = _conditions(rng, params, n)
    adherence = rng.beta(params.adherence_a, params.adherence_b, n)
    organisation = (np.arange(first, first + n) % organisations).astype(np.int64)
    return Population(
        n=n,
        organisation=organisation,
        female=female,
        age=age,
        conditions=conditions,
        kit=_kit(rng, conditions),
        adherence=adherence,
        ids=resident_ids(seed, first, n),
    )


def device_id(kind: str, resident_index: int, generation: int) -> str:
    return f"syn-{kind}-{resident_index:06d}-{generation}"


def draw_devices(
    rng: np.random.Generator,
    pop: Population,
    first: int,
    *,
    t0: int,
    t1: int,
    fault_per_day: float,
) -> tuple[Devices, np.ndarray]:
    """Devices of the kit, a fault (silence, then a replacement) for some of them.

    Returns the devices and the faults as rows ``(device row, silent from, replaced at)``.
    """
    res, kind = np.nonzero(pop.kit)
    fault_at = t0 + rng.exponential(86400 / max(fault_per_day, 1e-12), res.size)
    faulty = fault_at < t1 - 86400
    silent = rng.integers(2, 7, res.size) * 86400
    replaced = np.minimum(fault_at + silent, t1).astype(np.int64)
    fault_at = fault_at.astype(np.int64)
    end = np.where(faulty, replaced, -1)
    rows_res = np.concatenate([res, res[faulty]])
    rows_kind = np.concatenate([kind, kind[faulty]])
    gen = np.concatenate([np.ones(res.size, int), np.full(int(faulty.sum()), 2)])
    start = np.concatenate([np.full(res.size, t0, np.int64), replaced[faulty]])
    ends = np.concatenate([end, np.full(int(faulty.sum()), -1)])
    ids = [
        device_id(KINDS[k][0], int(r) + first, int(g))
        for r, k, g in zip(rows_res, rows_kind, gen, strict=True)
    ]
    faults = np.stack([np.nonzero(faulty)[0], fault_at[faulty], replaced[faulty]], axis=1)
    return Devices(rows_res, rows_kind, gen, start, ends, ids), faults
