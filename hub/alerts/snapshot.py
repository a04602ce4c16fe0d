"""What a rule evaluator remembers, as JSON-able values (:meth:`Evaluator.snapshot`).

The alert engine writes each evaluator's per-subject state to the hub database in the same
transaction as the alert changes it causes (:mod:`hub.alerts.durable`), so a restarted hub —
or another hub node taking over — resumes with the same pending thresholds, hysteresis,
baselines, inactivity windows and device/gateway silences. Times are UTC microseconds,
decimals their exact text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.alerts.inputs import Subject
from hub.db import from_micros, to_micros

__all__ = ["State", "at", "dec_in", "dec_out", "subject_in", "subject_out", "time_in", "time_out"]

State = Mapping[str, Any]
"""One subject's state as :func:`json.loads` gives it back."""


def subject_out(subject: Subject) -> list[str | None]:
    return [subject.key, subject.resident, subject.home, subject.organisation]


def subject_in(value: Any) -> Subject:
    key, resident, home, organisation = value
    return Subject(str(key), resident, home, organisation)


def time_out(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def time_in(value: Any) -> datetime | None:
    return None if value is None else from_micros(int(value))


def at(value: Any) -> datetime:
    """A time that is always there."""
    return from_micros(int(value))


def dec_out(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def dec_in(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
