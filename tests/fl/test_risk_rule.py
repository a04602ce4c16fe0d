"""The ``risk_model`` alert rule: daily scores with the accepted model only, a low-severity
"rising risk" alert with the top contributing features and the model version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from fl.artefact import ModelShelf, make_artefact
from fl.features import FEATURES
from fl.model import N_PARAMS
from fl.risk_rule import RiskModelEvaluator
from hub.alerts.config import RiskModelRule, parse_rules
from hub.alerts.rules import build_evaluator
from schemas.models import Severity
from tests.support.alerts import item, obs

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


def _shelf(tmp_path: Path) -> tuple[ModelShelf, str]:
    params = np.zeros(N_PARAMS)
    params[FEATURES.index("spo2_level")] = -1.0
    params[-1] = -2.0
    art = make_artefact(params, {"rounds": 3, "organisations": ["a", "b"]}, {"auroc": 0.8})
    published = tmp_path / "published.json"
    art.save(published)
    shelf = ModelShelf(tmp_path / "shelf")
    assert shelf.offer(published, "coordinator").version == art.version
    return shelf, art.version


def _evaluator(tmp_path: Path) -> RiskModelEvaluator:
    text = f"""
[[rule]]
id = "rising-risk"
kind = "risk_model"
shelf = "{tmp_path / "shelf"}"
threshold = 0.5
hour_utc = 6
"""
    rule = parse_rules(text).rules[0]
    assert isinstance(rule, RiskModelRule)
    assert rule.severity is Severity.LOW
    evaluator = build_evaluator(rule)
    assert isinstance(evaluator, RiskModelEvaluator)
    for day in range(7):
        at = DAY0 + timedelta(days=day, hours=9)
        evaluator.on_observation(item(obs("spo2", "86", at=at), "r-ill"), at)
        evaluator.on_observation(item(obs("spo2", "97", at=at), "r-well"), at)
    return evaluator


def test_no_score_until_a_person_accepts_the_model(tmp_path: Path) -> None:
    shelf, version = _shelf(tmp_path)
    ev = _evaluator(tmp_path)
    day8 = DAY0 + timedelta(days=7, hours=7)
    assert ev.on_tick(day8) == []  # offered only: never used silently
    shelf.accept(version, "nurse-lead")
    ev.scored_day = -1
    signals = ev.on_tick(day8)
    assert [s.subject.resident for s in signals] == ["r-ill"]
    sig = signals[0]
    assert sig.firing
    assert sig.severity is Severity.LOW
    assert version in sig.summary
    assert "spo2_level" in sig.summary
    assert sig.trigger is not None
    assert sig.trigger.detail["model_version"] == version
    assert sig.trigger.detail["top_features"][0]["feature"] == "spo2_level"
    assert ev.on_tick(day8 + timedelta(hours=1)) == []  # once a day
    assert [d["action"] for d in shelf.decisions()] == ["offered", "accepted"]


def test_refused_model_is_not_used_and_cannot_be_accepted(tmp_path: Path) -> None:
    shelf, version = _shelf(tmp_path)
    shelf.accept(version, "nurse-lead")
    shelf.refuse(version, "medical-officer", "not validated on our residents")
    ev = _evaluator(tmp_path)
    assert ev.on_tick(DAY0 + timedelta(days=7, hours=7)) == []
    with pytest.raises(ValueError, match="refused"):
        shelf.accept(version, "nurse-lead")
    assert shelf.decisions()[-1]["reason"] == "not validated on our residents"


def test_altered_artefact_is_refused_on_offer(tmp_path: Path) -> None:
    _shelf(tmp_path)
    path = tmp_path / "published.json"
    path.write_text(
        path.read_text().replace('"auroc": 0.8', '"auroc": 0.8').replace("-2.0", "-1.0")
    )
    with pytest.raises(ValueError, match="version does not match"):
        ModelShelf(tmp_path / "shelf").offer(path, "coordinator")
