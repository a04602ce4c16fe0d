"""What every ``hjem admin`` action shares: the hub database, the clock, one-line errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from foundation.errors import CliError
from hub.db import Connection

__all__ = ["call", "database", "fail", "parse_time"]

T = TypeVar("T")


def fail(message: str) -> Exception:
    return CliError(message)


@contextmanager
def database(args: argparse.Namespace) -> Iterator[Connection]:
    """The hub database named by ``--config``: the SQLite file, or PostgreSQL with
    ``store.kind = "postgresql"`` (:func:`hub.database.open_database`)."""
    from hub.config import load_settings
    from hub.database import open_database
    from hub.errors import HubError

    if args.config is None:
        raise fail("--config HUB_TOML is needed to reach the hub database")
    try:
        settings = load_settings(Path(args.config))
        conn = open_database(settings)
    except HubError as exc:
        raise fail(str(exc)) from exc
    try:
        yield conn
    finally:
        conn.close()


def call(action: Callable[[], T]) -> T:
    """Run ``action``, turning the hub's own errors into one-line CLI errors."""
    from hub.errors import HubError

    try:
        return action()
    except HubError as exc:
        raise fail(str(exc)) from exc


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a UTC offset from option ``name``, or None if not given."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"{name} {text!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise fail(f"{name} {text!r} needs a UTC offset, e.g. {text}+01:00")
    return moment
