"""Logging for the hub and the edge agent: one line per event, timestamps with their zone.

``configure_logging(level, fmt)`` replaces the root logger's handlers with one writing to
stderr (systemd's journal reads it):

* ``text``: ``2025-01-31T14:32:05.123+01:00 INFO    hub.events: alert opened: ...``
* ``json``: one JSON object per line with ``time``, ``level``, ``logger``, ``message`` and
  every field passed as ``extra=`` (``event``, ``publisher``, ``reason``, ...), for a log
  shipper; an exception adds ``exc``.

The format is also put in the environment (:data:`FORMAT_ENV`) so that child processes of
the hub (the MQTT relay) log the same way. Shared by ``hub`` and ``edge``; imports neither.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from typing import Literal

__all__ = ["FORMAT_ENV", "LogFormat", "configure_logging", "format_from_env", "local_time"]

LogFormat = Literal["text", "json"]
FORMAT_ENV = "HJEM_LOG_FORMAT"
_HANDLER = "hjem-stderr"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def local_time(created: float) -> str:
    """ISO 8601 in the machine's local zone with its offset, to the millisecond."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``<time with zone> <LEVEL> <logger>: <message>``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        del datefmt
        return local_time(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra=`` fields become keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": local_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int | str, fmt: LogFormat = "text") -> None:
    """Log ``level`` and above to stderr in ``fmt``; replaces an earlier call's handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER:  # others' handlers (pytest's capture) stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    os.environ[FORMAT_ENV] = fmt


def format_from_env() -> LogFormat:
    """The format a parent process chose (``text`` when none or an unknown one)."""
    return "json" if os.environ.get(FORMAT_ENV) == "json" else "text"
