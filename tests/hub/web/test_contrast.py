"""WCAG 2 contrast of the dashboard's text colour pairs, computed from the CSS variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[3] / "hub" / "web" / "static" / "hjem.css"

# (text colour, background) for every pair the stylesheet uses for text.
PAIRS = [
    ("--text", "--bg"),
    ("--text", "--surface"),
    ("--muted", "--surface"),
    ("--muted", "--bg"),
    ("--primary", "--surface"),
    ("--primary", "--bg"),
    ("--on-primary", "--primary"),
    ("--header-text", "--header-bg"),
    ("--header-muted", "--header-bg"),
    ("--header-bg", "--header-text"),
    ("--on-severity", "--crit-bg"),
    ("--on-severity", "--high-bg"),
    ("--on-severity", "--medium-bg"),
    ("--on-severity", "--low-bg"),
    ("--ok-text", "--ok-bg"),
    ("--bad-text", "--bad-bg"),
    ("--warn-text", "--warn-bg"),
    ("--text", "--new-bg"),
    ("--bad-text", "--surface"),
    ("--warn-text", "--surface"),
    ("--ok-text", "--surface"),
]


def variables() -> dict[str, str]:
    root = re.search(r":root\s*\{(.*?)\}", CSS.read_text(encoding="utf-8"), re.S)
    assert root, "no :root block"
    return dict(re.findall(r"(--[a-z0-9-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


@pytest.mark.parametrize(("fg", "bg"), PAIRS)
def test_text_pairs_have_at_least_4_5_to_1(fg: str, bg: str) -> None:
    colours = variables()
    ratio = contrast(colours[fg], colours[bg])
    assert ratio >= 4.5, f"{fg} on {bg}: {ratio:.2f}:1"
