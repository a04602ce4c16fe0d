"""``hjem alerts check``: a rule on a measure no decoder emits warns; an unknown one fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from hjem.cli import main
from hjem.demo_home import RULES_TOML
from hub.admin.provision import DEPLOY_DIR
from hub.alerts.cli import unemitted
from hub.alerts.config import parse_rules

OLD_PANIC = """
[[rule]]
id = "panic-button"
kind = "event"
measure = "panic"
codes = ["press"]
"""


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    rc = main(["alerts", "check", str(path)])
    out = capsys.readouterr()
    return rc, out.err.splitlines(), out.out


def test_a_rule_on_a_measure_no_decoder_emits_warns_naming_rule_and_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(OLD_PANIC)  # the example's panic-button before issue 13
    rc, err, out = _check(rules, capsys)
    assert rc == 0
    assert "panic-button: event, critical" in out
    assert err == [
        (
            "warning: rule 'panic-button' watches 'panic', which no Hjem decoder emits: only a"
            " vendor system publishing it directly can raise this alert"
        )
    ]


def test_a_rule_on_what_pendants_send_does_not_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(OLD_PANIC.replace('"panic"', '"button"'))
    rc, err, _ = _check(rules, capsys)
    assert (rc, err) == (0, [])


def test_an_explicit_code_no_decoder_emits_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rule]]\nid = "odd"\nkind = "threshold"\nsystem = "http://loinc.org"\n'
        'code = "9279-1"\noperator = ">"\nvalue = 25\n'  # respiration rate: vendors only
    )
    rc, err, _ = _check(rules, capsys)
    assert rc == 0
    assert err == [
        (
            "warning: rule 'odd' watches 'http://loinc.org|9279-1', which no Hjem decoder emits:"
            " only a vendor system publishing it directly can raise this alert"
        )
    ]


def test_a_measure_the_codes_table_does_not_know_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(OLD_PANIC.replace('"panic"', '"panik"'))
    rc, err, out = _check(rules, capsys)
    assert rc == 1
    assert out == ""
    assert len(err) == 1
    assert err[0].startswith(f"hjem alerts: {rules}: rule[0] 'panic-button': watch: ")
    assert "panik" in err[0]


def test_the_shipped_rules_watch_what_decoders_emit() -> None:
    """Only the example's fall rule (vendor fall detectors) watches a measure no decoder emits."""
    example = parse_rules((DEPLOY_DIR / "alerts.example.toml").read_text(encoding="utf-8"))
    assert unemitted(example) == [("fall", "fall")]
    assert unemitted(parse_rules(RULES_TOML)) == []
