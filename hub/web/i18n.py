"""Locale files (``locales/<lang>.toml``) and the language of a request.

Strings live in flat or nested TOML tables; nested keys are joined with dots
(``[board] title = ...`` is ``board.title``). Danish is the default language; the language
switch stores the choice in the ``hjem_lang`` cookie. A key missing from a locale is an
error at load time (every locale must have the keys of the default one), never a blank on a
page.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hub.web.errors import LocaleError

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANG_COOKIE",
    "Translator",
    "flatten",
    "load_locale",
    "pick_language",
    "translator",
]

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"
LANG_COOKIE = "hjem_lang"


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": "x"}}`` -> ``{"a.b": "x"}``; every leaf must be a string."""
    out: dict[str, str] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{dotted}."))
        elif isinstance(value, str):
            out[dotted] = value
        else:
            raise LocaleError(dotted, f"must be a string, not {type(value).__name__}")
    return out


def load_locale(language: str, directory: Path = LOCALES_DIR) -> dict[str, str]:
    path = directory / f"{language}.toml"
    try:
        return flatten(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise LocaleError(str(path), f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LocaleError(str(path), str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Translator:
    language: str
    strings: Mapping[str, str]

    def __call__(self, key: str, **values: object) -> str:
        """The string for ``key`` with ``{name}`` placeholders filled in."""
        try:
            text = self.strings[key]
        except KeyError:
            raise LocaleError(key, f"no such string in locale {self.language!r}") from None
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.strings


@cache
def translator(language: str) -> Translator:
    """The cached translator for a supported language (checked against the default)."""
    if language not in LANGUAGES:
        raise LocaleError(language, f"unsupported language; choose one of {', '.join(LANGUAGES)}")
    strings = load_locale(language)
    if language != DEFAULT_LANGUAGE:
        missing = sorted(set(load_locale(DEFAULT_LANGUAGE)) - set(strings))
        if missing:
            raise LocaleError(language, f"missing keys: {', '.join(missing)}")
    return Translator(language, strings)


def pick_language(cookie: str | None) -> str:
    """The cookie's language if supported, else Danish (the product's default)."""
    return str(cookie) if cookie in LANGUAGES else DEFAULT_LANGUAGE
