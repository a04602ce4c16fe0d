"""The report's utility section: train on synthetic, test on real (the deterioration model of
fl/) beside train on real; a synthesiser whose labels carry no signal scores clearly worse,
and without the model the report says why."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from hjem.cli import main
from synth.cohort import CohortSpec, iso
from synth.data import Long, load
from synth.params import Params
from synth.report import build_report
from synth.utility import Utility, utility
from synth.writer import write_cohort

START = date(2026, 1, 5)
RESIDENTS, DAYS = 200, 35


def _scramble_labels(src: Path, dst: Path, seed: int) -> None:
    """A useless "synthesiser": the twin's readings with every episode moved to a random
    resident and a random time (the labels no longer belong to the readings)."""
    shutil.copytree(src, dst)
    rows = [json.loads(line) for line in (src / "labels.jsonl").read_text().splitlines()]
    residents = [r["resident"] for r in rows if r["type"] == "resident"]
    rng = np.random.default_rng(seed)
    t0 = datetime(START.year, START.month, START.day, tzinfo=UTC).timestamp()
    for row in rows:
        if row["type"] == "episode":
            row["resident"] = str(rng.choice(residents))
            row["onset"] = iso(t0 + rng.uniform(0, DAYS) * 86400)
    (dst / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("utility")
    out = {}
    for name, seed in (("real", 1), ("twin", 2)):
        out[name] = root / name
        spec = CohortSpec(RESIDENTS, DAYS, 1, seed, START)
        write_cohort(spec, Params(), out[name], ("parquet", "labels"))
    out["useless"] = root / "useless"
    _scramble_labels(out["twin"], out["useless"], seed=3)
    return out


def test_report_shows_tstr_beside_trtr(
    cohorts: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, _, use = build_report(cohorts["real"], cohorts["twin"], None)
    assert isinstance(use, Utility), use
    for value in (use.tstr_auroc, use.tstr_auprc, use.trtr_auroc, use.trtr_auprc):
        assert 0.0 <= value <= 1.0
    assert use.test_positives > 10
    assert "<h2>Utility</h2>" in page
    assert "train synthetic (TSTR)" in page
    assert "train real (TRTR)" in page
    assert f"{use.tstr_auroc:.3f}" in page
    assert f"{use.trtr_auroc:.3f}" in page
    assert f"{use.auroc_difference:+.3f}" in page
    out = tmp_path / "report.html"
    argv = ["synth", "report", str(cohorts["real"]), str(cohorts["twin"]), "--out", str(out)]
    assert main(argv) == 0
    assert f"utility AUROC synthetic {use.tstr_auroc:.3f} vs real" in capsys.readouterr().out


def test_a_useless_synthesiser_scores_clearly_worse(cohorts: dict[str, Path]) -> None:
    real = load(cohorts["real"])
    honest = utility(real, cohorts["real"], load(cohorts["twin"]), cohorts["twin"])
    useless = utility(real, cohorts["real"], load(cohorts["useless"]), cohorts["useless"])
    assert honest.trtr_auroc == useless.trtr_auroc  # same split, same reference
    assert honest.tstr_auroc > 0.7
    assert useless.tstr_auroc < honest.tstr_auroc - 0.2
    assert useless.tstr_auprc < honest.tstr_auprc / 3
    print(honest.summary(), "| useless:", useless.summary())


def test_utility_is_optional_and_says_why(
    cohorts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub database or an unlabelled directory has no episode labels; without the fl
    extra the model cannot be imported; either way the rest of the report is there."""
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    none = np.array([], dtype=object)
    empty = Long(none, none, np.array([], np.int64), np.array([]))  # labels are read first
    with pytest.raises(ValueError, match=r"no labels\.jsonl"):
        utility(empty, unlabelled, empty, cohorts["twin"])
    monkeypatch.setitem(sys.modules, "fl.model", None)  # the fl extra is not installed
    page, _, use = build_report(cohorts["real"], cohorts["twin"], None)
    assert isinstance(use, str)
    assert "hjem[fl]" in use
    assert "Utility not measured" in page
    assert "hjem[fl]" in page
    assert "<h2>Fidelity</h2>" in page
