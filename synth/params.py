"""Population parameters of the synthetic cohort: every number with its source key.

The defaults are documented, figure by figure, with their sources in ``docs/synthetic.md``
(the ``[S..]`` keys below). :func:`synth.fit` estimates the same structure from a hub's store
(with differential-privacy noise), so a fitted twin and the default cohort are sampled by
the same code. Nothing here is per resident.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["CONDITIONS", "MEASURES", "Params", "VitalParams", "default_params"]

CONDITIONS = ("copd", "heart_failure", "diabetes", "hypertension", "dementia")
"""The chronic conditions the model draws, in the order of the latent correlation matrix."""

MEASURES = ("spo2", "pulse", "systolic", "diastolic", "temperature", "weight", "glucose")
"""The modelled vital signs (``pulse`` is read by the oximeter, or the cuff without one)."""


@dataclass(frozen=True)
class VitalParams:
    """One vital sign: level, between-person spread, condition offsets, rhythm, noise."""

    mean: float  # population level of a resident without the listed conditions
    between_sd: float  # spread of residents' own levels
    offsets: dict[str, float]  # condition -> added to the level
    ar_phi: float  # day-to-day AR(1) coefficient of the resident's daily level
    ar_sd: float  # stationary SD of that AR(1) process
    noise_sd: float  # reading-to-reading (within-day) noise
    circadian_amplitude: float  # half the peak-to-trough of a 24 h cosine
    circadian_peak_hour: float  # local hour of the peak
    lo: float  # physiological clip
    hi: float
    decimals: int


@dataclass(frozen=True)
class Params:
    """The generative model's population parameters (see docs/synthetic.md)."""

    female_share: float = 0.64  # [S1]
    age_mean: float = 83.0  # [S1]
    age_sd: float = 7.0  # [S1]
    age_min: float = 65.0
    age_max: float = 103.0
    prevalence: dict[str, float] = field(
        default_factory=lambda: {
            "copd": 0.18,  # [S3]
            "heart_failure": 0.16,  # [S3]
            "diabetes": 0.22,  # [S3]
            "hypertension": 0.62,  # [S3]
            "dementia": 0.24,  # [S3]
        }
    )
    # Latent (probit) correlations of the conditions, in CONDITIONS order [S4].
    condition_corr: list[list[float]] = field(
        default_factory=lambda: [
            [1.00, 0.25, 0.05, 0.05, -0.05],
            [0.25, 1.00, 0.20, 0.30, 0.00],
            [0.05, 0.20, 1.00, 0.30, 0.00],
            [0.05, 0.30, 0.30, 1.00, 0.05],
            [-0.05, 0.00, 0.00, 0.05, 1.00],
        ]
    )
    vitals: dict[str, VitalParams] = field(default_factory=lambda: dict(_VITALS))
    # Blood pressure at night as a fraction of daytime (1 - dipping): mean, SD [S9].
    bp_night_ratio_mean: float = 0.95
    bp_night_ratio_sd: float = 0.05
    weight_mean_female: float = 66.0  # [S10]
    weight_mean_male: float = 78.0  # [S10]
    weight_sd: float = 13.0  # [S10]
    weight_drift_sd_per_day: float = 0.06  # kg, random walk [S10]
    # Share of scheduled measurements taken: Beta(a, b) per resident [S11].
    adherence_a: float = 7.0
    adherence_b: float = 2.0
    morning_hour_mean: float = 8.5  # local time of the morning round [S11]
    morning_hour_sd: float = 0.75
    # Events per resident-year [S12]-[S15].
    copd_exacerbation_rate: float = 1.6
    hf_decompensation_rate: float = 0.7
    infection_rate: float = 0.6
    fall_rate: float = 0.9
    fall_rate_dementia_factor: float = 1.6
    fall_detection_sensitivity: float = 0.8  # [S16]
    false_fall_alarm_per_day: float = 0.002  # [S16]
    # Device artefacts and faults, per reading or per device-day [S17].
    oximeter_artefact_p: float = 0.03
    cuff_error_p: float = 0.02
    device_fault_per_day: float = 0.0005
    # Activity routine [S18].
    wake_hour_mean: float = 7.5
    wake_hour_sd: float = 0.8
    bed_hour_mean: float = 22.25
    night_bathroom_mean: float = 1.3
    kitchen_visits_mean: float = 4.0
    living_visits_mean: float = 5.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}")
        values = dict(data)
        if "vitals" in values:
            vitals = {}
            for name, spec in values["vitals"].items():
                if name not in MEASURES:
                    raise ValueError(f"vitals.{name}: not a modelled measure ({MEASURES})")
                vitals[name] = VitalParams(**spec)
            values["vitals"] = vitals
        return replace(cls(), **values)

    @classmethod
    def load(cls, path: Path) -> Params:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read parameters: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: parameters must be a JSON object")  # noqa: TRY004
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc


_VITALS: dict[str, VitalParams] = {
    # [S5] SpO2 of people >= 65 at rest: about 95-96 %, lower limit of normal ~91-92 %.
    "spo2": VitalParams(
        95.8, 1.2, {"copd": -2.6, "heart_failure": -0.8}, 0.5, 0.7, 0.9, 0.3, 15.0, 70.0, 100.0, 0
    ),
    # [S6] resting pulse; COPD and HF raise it.
    "pulse": VitalParams(
        71.0, 8.5, {"copd": 4.0, "heart_failure": 3.0}, 0.5, 3.5, 3.0, 3.0, 15.0, 35.0, 160.0, 0
    ),
    # [S7] home BP of people >= 75 (treated and untreated); daytime level.
    "systolic": VitalParams(
        134.0,
        14.0,
        {"hypertension": 9.0, "heart_failure": -6.0},
        0.45,
        6.0,
        6.0,
        0.0,
        14.0,
        80.0,
        230.0,
        0,
    ),
    "diastolic": VitalParams(
        73.0,
        8.0,
        {"hypertension": 4.0, "heart_failure": -3.0},
        0.45,
        3.5,
        4.0,
        0.0,
        14.0,
        40.0,
        130.0,
        0,
    ),
    # [S8] oral temperature of people ~80: 36.3-36.6 °C, evening highest, small amplitude.
    "temperature": VitalParams(36.45, 0.22, {}, 0.3, 0.12, 0.15, 0.15, 19.0, 34.5, 42.0, 1),
    # weight is drawn from its own parameters (weight_*), these give the reading noise.
    "weight": VitalParams(0.0, 0.0, {}, 0.0, 0.0, 0.25, 0.0, 8.0, 30.0, 200.0, 1),
    # [S19] capillary glucose of treated older people with diabetes (mmol/L).
    "glucose": VitalParams(8.4, 1.4, {}, 0.4, 0.9, 1.2, 0.8, 13.0, 2.5, 30.0, 1),
}


def default_params() -> Params:
    return Params()
