"""Twins and the report: DP fitting keeps the population level; the report's privacy
metrics pass an honest twin and flag a "synthesiser" that copies real records."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from hjem.cli import main
from synth.cohort import CohortSpec
from synth.data import load
from synth.fit import fit_params
from synth.params import Params
from synth.report import build_report
from synth.writer import write_cohort

START = date(2026, 1, 5)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("twins")
    out = {}
    for name, seed in (("real", 1), ("holdout", 2)):
        out[name] = root / name
        write_cohort(CohortSpec(120, 21, 2, seed, START), Params(), out[name], ("parquet",))
    return out


def test_fit_recovers_levels_and_noise_hides_one_resident(cohorts: dict[str, Path]) -> None:
    long = load(cohorts["real"])
    fitted = fit_params(long, epsilon=10.0, seed=1)
    real_spo2 = long.of("spo2").value.mean()
    assert abs(fitted.vitals["spo2"].mean - real_spo2) < 1.0
    assert abs(fitted.vitals["temperature"].mean - long.of("temperature").value.mean()) < 0.2
    # a small epsilon gives noisier estimates (the mechanism is really there)
    noisy = [fit_params(long, epsilon=0.05, seed=s).vitals["spo2"].mean for s in range(5)]
    exact = [fit_params(long, epsilon=10.0, seed=s).vitals["spo2"].mean for s in range(5)]
    assert np.std(noisy) > 5 * np.std(exact)
    with pytest.raises(ValueError, match="epsilon"):
        fit_params(long, epsilon=0)


def test_report_passes_a_twin_and_flags_a_copying_synthesiser(
    cohorts: dict[str, Path], tmp_path: Path
) -> None:
    params = tmp_path / "fitted.json"
    assert main(["synth", "fit", str(cohorts["real"]), "--epsilon", "5", "--out", str(params)]) == 0
    twin = tmp_path / "twin"
    assert (
        main(
            [
                "synth",
                "sample",
                "--params",
                str(params),
                "--residents",
                "120",
                "--days",
                "21",
                "--seed",
                "9",
                "--out",
                str(twin),
            ]
        )
        == 0
    )
    report = tmp_path / "twin.html"
    code = main(
        [
            "synth",
            "report",
            str(cohorts["real"]),
            str(twin),
            "--holdout",
            str(cohorts["holdout"]),
            "--out",
            str(report),
        ]
    )
    text = report.read_text()
    assert code == 0, text
    assert "No privacy flag raised" in text
    assert "<svg" in text
    assert "Utility" in text
    leaky = tmp_path / "leaky"
    shutil.copytree(cohorts["real"], leaky)  # the "synthesiser" hands out the real records
    html, privacy, _ = build_report(cohorts["real"], leaky, cohorts["holdout"])
    assert privacy is not None
    assert privacy.mia_auc > 0.9
    assert privacy.dcr_ratio < 0.1
    assert "FLAGGED" in html
    assert (
        main(
            [
                "synth",
                "report",
                str(cohorts["real"]),
                str(leaky),
                "--holdout",
                str(cohorts["holdout"]),
                "--out",
                str(tmp_path / "leaky.html"),
            ]
        )
        == 1
    )
