"""Alerts in the page's language: the title, the triggering reading and the system's audit
notes, from the facts the engine stored (``AlertRow.trigger_*``), not from its English text.

A rule's ``summaries`` for the language win; then its own ``summary`` (the operator's words,
shown as written); then a text built here from the trigger's facts; the stored summary only
for alerts from before triggers were recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from hub.alerts.config import RulesConfig
from hub.alerts.store import AlertRow, AuditEntry
from hub.web.formatting import format_duration
from hub.web.i18n import Translator
from hub.web.queries import AlertAuditRow
from hub.web.vitals import display_unit
from schemas.codes import codes

__all__ = ["alert_title", "audit_note", "measure_name", "number", "reading"]


def number(value: float, language: str, decimals: int | None = None) -> str:
    """``38.5`` -> ``38,5`` in Danish; whole numbers without decimals unless asked."""
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if language == "da" else text


def measure_name(label: str, t: Translator) -> str:
    """A rule's watch label (a measure key, or ``system|code``) as people call it."""
    table = codes()
    key = label
    if key not in table and "|" in label:
        system, _, code = label.partition("|")
        found = table.by_primary(system, code)
        key = found[0].key if found else (code if code in table else label)
    if t.has(f"vital.{key}"):
        return t(f"vital.{key}")
    if key in table:
        measure = table[key]
        return measure.display_da if t.language == "da" else measure.display
    return label


def reading(row: AlertRow, t: Translator) -> str | None:
    """The triggering value with its unit (``39,4 °C``, ``NEWS2 6``), if the rule has one."""
    if row.trigger_value is None:
        return None
    value = number(row.trigger_value, t.language)
    if row.trigger_detail.get("kind") == "news2":
        return f"NEWS2 {value}"
    unit = display_unit(row.trigger_unit)
    return f"{value} {unit}".strip()


def _event_code(code: str, t: Translator) -> str:
    return t(f"event_code.{code}") if t.has(f"event_code.{code}") else code


def _news2(detail: Mapping[str, object], row: AlertRow, t: Translator) -> str:
    points = detail.get("points")
    parts = []
    if isinstance(points, dict):
        parts = [f"{_param(str(p), t)} {n}" for p, n in points.items()]
    missing = detail.get("missing")
    left = [_param(str(p), t) for p in missing] if isinstance(missing, list) else []
    total = number(row.trigger_value or 0, t.language)
    return t("alert_text.news2", total=total, parts=", ".join(parts), missing=", ".join(left))


def _param(parameter: str, t: Translator) -> str:
    return t(f"news2_param.{parameter}") if t.has(f"news2_param.{parameter}") else parameter


def _from_facts(row: AlertRow, t: Translator) -> str | None:
    detail = row.trigger_detail
    kind = detail.get("kind")
    watch = str(detail.get("watch", ""))
    match kind:
        case "threshold":
            limit = detail.get("limit")
            return t(
                "alert_text.threshold",
                measure=measure_name(watch, t),
                value=reading(row, t) or "?",
                operator=str(detail.get("operator", "")).replace(">=", "≥").replace("<=", "≤"),
                limit=number(float(limit), t.language) if isinstance(limit, int | float) else "?",
            )
        case "event":
            code = _event_code(str(detail.get("code", "")), t)
            return t("alert_text.event", measure=measure_name(watch, t), code=code)
        case "gateway_offline":
            why = "last_will" if detail.get("why") == "last_will" else "heartbeat"
            return t(f"alert_text.gateway_{why}", gateway=str(detail.get("gateway", "")))
        case "news2":
            return _news2(detail, row, t)
        case "inactivity":
            window = str(detail.get("window", ""))
            return t("alert_text.inactivity", measure=measure_name(watch, t), window=window)
        case "no_data":
            seconds = detail.get("seconds")
            span = timedelta(seconds=float(seconds) if isinstance(seconds, int | float) else 0)
            device = str(detail.get("device", ""))
            return t("alert_text.no_data", device=device, span=format_duration(span, t))
        case "baseline":
            score = detail.get("score")
            return t(
                "alert_text.baseline",
                measure=measure_name(watch, t),
                value=reading(row, t) or "?",
                score=number(float(score), t.language) if isinstance(score, int | float) else "?",
            )
    return None


def alert_title(row: AlertRow, rules: RulesConfig | None, t: Translator) -> str:
    """The alert's title in ``t``'s language (see the module text for the order)."""
    rule = rules.rule(row.rule) if rules is not None else None
    if rule is not None and t.language in rule.summaries:
        return rule.summaries[t.language]
    if rule is not None and rule.summary:
        return rule.summary
    return _from_facts(row, t) or row.summary


_ESCALATED = re.compile(r"escalated to (?P<who>.+)$")
_RENOTIFY = re.compile(r"notifying (?P<who>.+) again$")


def audit_note(
    entry: AuditEntry | AlertAuditRow, t: Translator, detail: Mapping[str, object] | None = None
) -> str:
    """A user's note as written; the engine's own notes (escalation) in the language."""
    note = entry.note or ""
    if entry.actor != "system" or entry.action not in ("escalate", "renotify"):
        return note
    facts = entry.detail if isinstance(entry, AuditEntry) else (detail or {})
    if entry.action == "escalate":
        found = _ESCALATED.search(note)
        who = facts.get("responder") or (found.group("who") if found else "")
        return t("audit.note_escalate", responder=str(who))
    found = _RENOTIFY.search(note)
    who = facts.get("assignee") or (found.group("who") if found else "")
    return t("audit.note_renotify", who=str(who)) if note else ""
