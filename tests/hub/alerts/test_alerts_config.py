"""The rules file: the shipped example loads, and wrong rules are named with their problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.alerts.config import News2Rule, ThresholdRule, load_rules, parse_rules
from hub.alerts.errors import RulesConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "alerts.example.toml"


def test_example_rules_file_loads() -> None:
    config = load_rules(EXAMPLE)
    kinds = {rule.kind for rule in config.rules}
    assert kinds == {
        "event", "threshold", "news2", "baseline", "inactivity", "no_data",
        "gateway_offline", "battery_low",
    }  # fmt: skip
    spo2 = config.rule("spo2-low")
    assert isinstance(spo2, ThresholdRule)
    assert (spo2.value, spo2.clear_value, spo2.pending_seconds) == (92, 94, 300)
    assert isinstance(config.rule("news2"), News2Rule)
    assert config.escalation["home-care"].steps[0].responder == "team:home-care-day"


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(RulesConfigError) as info:
        parse_rules(text, source="rules.toml")
    assert str(info.value).startswith("rules.toml: ")
    return info.value.problems


def test_wrong_hysteresis_names_the_rule() -> None:
    problems = _problems(
        '[[rule]]\nid = "spo2-low"\nkind = "threshold"\nmeasure = "spo2"\n'
        'operator = "<"\nvalue = 92\nclear_value = 90\n'
    )
    assert problems == [
        ("rule[0] 'spo2-low'", "clear_value must not be below value for operator '<'")
    ]


def test_unknown_measure_and_event_code_and_kind() -> None:
    problems = _problems(
        '[[rule]]\nid = "a"\nkind = "threshold"\nmeasure = "spo3"\noperator = ">"\nvalue = 1\n'
        '[[rule]]\nid = "b"\nkind = "event"\nmeasure = "fall"\ncodes = ["press"]\n'
        '[[rule]]\nid = "c"\nkind = "sometimes"\n'
    )
    where = [w for w, _ in problems]
    assert where == ["rule[0] 'a'", "rule[1] 'b'", "rule[2] 'c'"]
    assert "'spo3' is not in schemas/codes.toml" in problems[0][1]
    assert "['press'] are not events of 'fall'" in problems[1][1]
    assert "sometimes" in problems[2][1]


def test_missing_field_duplicate_id_and_unknown_escalation() -> None:
    problems = _problems(
        '[[rule]]\nid = "x"\nkind = "event"\nmeasure = "fall"\nescalation = "nobody"\n'
        '[[rule]]\nid = "x"\nkind = "event"\nmeasure = "panic"\n'
        '[[rule]]\nid = "y"\nkind = "no_data"\n'
    )
    assert ("rule[2] 'y'", "max_silence_seconds: Field required") in problems
    assert ("rule 'x'", "escalation 'nobody' is not defined") in problems
    assert ("rule 'x'", "duplicate rule id (#1)") in problems


def test_inactivity_window_and_zone_are_checked() -> None:
    problems = _problems(
        '[[rule]]\nid = "k"\nkind = "inactivity"\nmeasure = "motion"\n'
        'window_start = 10:00:00\nwindow_end = 07:00:00\ntimezone = "Mars/Olympus"\n'
    )
    texts = " ".join(p for _, p in problems)
    assert "unknown time zone 'Mars/Olympus'" in texts


def test_syntax_error_and_unknown_table() -> None:
    assert _problems("[[rule]\n")[0][0] == "toml"
    assert _problems("[rules]\n")[0][0] == "top level"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RulesConfigError, match=r"missing\.toml"):
        load_rules(tmp_path / "missing.toml")


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hjem.cli import main

    assert main(["alerts", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "11 rules, 2 escalation policies" in out
    assert "  spo2-low: threshold, high, escalation home-care" in out
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[[rule]]\nid = "z"\nkind = "battery_low"\nbelow_percent = 50\n')
    assert main(["alerts", "check", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hjem alerts: ")
    assert "rule[0] 'z': clear_percent must be at least below_percent" in err
