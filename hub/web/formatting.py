"""Pure formatting of times and durations for the pages, per language and time zone."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from hub.web.i18n import Translator

__all__ = ["format_age", "format_duration", "format_time"]


def format_time(moment: datetime, zone: tzinfo, now: datetime, t: Translator) -> str:
    """``12:05`` today, ``i går 12:05`` yesterday, else ``28.11.2026 12:05`` (da)."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return t("time.today", time=clock)
    if local.date() == today - timedelta(days=1):
        return t("time.yesterday", time=clock)
    pattern = "%d.%m.%Y %H:%M" if t.language == "da" else "%Y-%m-%d %H:%M"
    return local.strftime(pattern)


def format_duration(span: timedelta, t: Translator) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return t("time.seconds", n=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return t("time.minutes", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return t("time.hours_minutes", h=hours, m=minutes)
    return t("time.days", n=hours // 24)


def format_age(moment: datetime, now: datetime, t: Translator) -> str:
    """``for 5 min siden`` / ``5 min ago``; ``lige nu`` below a minute."""
    span = now - moment
    if span < timedelta(minutes=1):
        return t("time.just_now")
    return t("time.ago", span=format_duration(span, t))
