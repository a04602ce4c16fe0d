"""Locales: Danish and English have the same keys, every key a template or view uses exists,
Danish is the default and the language switch (a cookie) sets the page's ``lang``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.web.errors import LocaleError
from hub.web.i18n import LANGUAGES, flatten, load_locale, pick_language, translator
from tests.hub.web.conftest import SignedIn

WEB = Path(__file__).resolve().parents[3] / "hub" / "web"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_]+\.[a-z0-9_.]*[a-z0-9])["']""")


def test_every_locale_has_exactly_the_same_keys() -> None:
    danish = set(load_locale("da"))
    for language in LANGUAGES:
        keys = set(load_locale(language))
        assert keys - danish == set(), f"{language} has keys Danish lacks"
        assert danish - keys == set(), f"{language} lacks keys Danish has"
    assert len(danish) > 150


def test_every_literal_key_used_in_templates_and_views_exists() -> None:
    used: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("**/*.py")]:
        used.update(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    assert "board.acknowledge" in used
    strings = load_locale("da")
    assert sorted(used - set(strings)) == []


def test_dynamic_key_families_cover_their_values() -> None:
    from hub.web.vitals import VITALS
    from schemas.models import AlertState, Severity

    for language in LANGUAGES:
        t = translator(language)
        for state in AlertState:
            assert t.has(f"state.{state.value.lower()}")
        for severity in Severity:
            assert t.has(f"severity.{severity.value}")
        for vital in VITALS:
            assert t.has(f"vital.{vital.key}")
        for risk in ("low", "low_medium", "medium", "high"):
            assert t.has(f"news2.risk_{risk}")


def test_placeholders_are_filled_and_missing_keys_are_errors() -> None:
    assert translator("da")("auth.throttled", seconds=30).endswith("30 sekunder.")
    assert translator("en")("time.ago", span="5 min") == "5 min ago"
    with pytest.raises(LocaleError, match="no such string"):
        translator("en")("board.nonexistent")
    with pytest.raises(LocaleError, match="unsupported language"):
        translator("de")
    with pytest.raises(LocaleError, match="must be a string"):
        flatten({"a": {"b": 3}})


def test_danish_is_the_default_and_the_cookie_chooses() -> None:
    assert pick_language(None) == "da"
    assert pick_language("en") == "en"
    assert pick_language("fr") == "da"


@pytest.mark.asyncio
async def test_language_switch_sets_cookie_and_lang_attribute(signed_in: SignedIn) -> None:
    client, csrf = await signed_in("sara")
    danish = await client.get("/board")
    assert '<html lang="da">' in danish.text
    assert "Aktive alarmer" in danish.text
    switched = await client.post(
        "/language", data={"lang": "en", "next": "/residents", "csrf_token": csrf}
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/residents"
    assert "hjem_lang=en" in switched.headers["set-cookie"]
    english = await client.get("/residents")
    assert '<html lang="en">' in english.text
    assert "Residents" in english.text
    refused = await client.post("/language", data={"lang": "xx", "csrf_token": csrf})
    assert refused.status_code == 400


@pytest.mark.asyncio
async def test_language_switch_refuses_offsite_next(signed_in: SignedIn) -> None:
    client, csrf = await signed_in("sara")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        reply = await client.post(
            "/language", data={"lang": "en", "next": target, "csrf_token": csrf}
        )
        assert reply.headers["location"] == "/board"
