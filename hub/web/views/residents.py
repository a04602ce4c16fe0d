"""Residents: the overview (latest vitals, NEWS2) and a resident's page with charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from hub.alerts.config import RulesConfig
from hub.alerts.news2 import News2Result
from hub.store.base import ROLLUP_WIDTHS, Bucket, Sample, TimeSeriesStore
from hub.web import queries
from hub.web.alert_text import alert_title
from hub.web.charts import ChartPoint, render_chart
from hub.web.measures import OtherValue, other_measures
from hub.web.site import CurrentPage, Page, PageRoute, alerts_of, render
from hub.web.vitals import (
    VITALS,
    LatestValue,
    Vital,
    display_unit,
    format_value,
    latest_values,
    limit_text,
    out_of_range,
    scorable,
    score,
    thresholds_for,
)
from schemas.models import AlertState

__all__ = [
    "HEADROOM",
    "MAX_RAW_POINTS",
    "RANGES",
    "ResidentRow",
    "chart_points",
    "resident_row",
    "router",
]

router = APIRouter(route_class=PageRoute)

RangeKey = Literal["24h", "7d"]
RANGES: dict[str, tuple[timedelta, timedelta | None]] = {
    "24h": (timedelta(hours=24), None),
    "7d": (timedelta(days=7), ROLLUP_WIDTHS[1]),
}
"""Range -> (span, roll-up width; None: raw samples)."""
GAPS = {"24h": timedelta(hours=2), "7d": timedelta(hours=3)}
"""Readings further apart than this are not joined by a line."""
MAX_RAW_POINTS = 400
"""Above this many samples in 24 h the chart shows 5-minute min/mean/max buckets instead."""
HEADROOM = timedelta(minutes=1)
"""Charts end a little after now, so that a reading taken this instant is included."""


@dataclass(frozen=True, slots=True)
class ShownValue:
    sample: Sample
    text: str
    unit: str
    fresh: bool
    limit: str | None = None
    """The alert limit the value is beyond (``< 92``), from the loaded threshold rules."""
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class ResidentRow:
    resident: queries.ResidentView
    values: dict[str, ShownValue]
    news2: News2Result | None
    last: datetime | None
    open_alerts: int
    others: tuple[OtherValue, ...] = ()
    """Readings no vital shows (:mod:`hub.web.measures`), listed on the resident's page."""


def _shown(item: LatestValue, language: str, rules: RulesConfig | None) -> ShownValue:
    beyond = out_of_range(item.vital, item.sample, rules)
    return ShownValue(
        item.sample,
        format_value(item.sample.value, item.vital.decimals, language),
        display_unit(item.sample.unit),
        item.fresh,
        limit_text(beyond, language) if beyond else None,
        beyond.severity.value if beyond else None,
    )


def rules_of(current: Page) -> RulesConfig | None:
    """The alert rules the running engine loaded (None: alerts not running)."""
    service = alerts_of(current.request)
    return service.engine.config if service else None


def resident_row(
    current: Page, resident: queries.ResidentView, open_alerts: int = 0
) -> ResidentRow:
    latest = current.hub.store.latest(resident.id)
    items = latest_values(latest, current.now)
    rules = rules_of(current)
    values = {i.vital.key: _shown(i, current.t.language, rules) for i in items}
    last = max((s.time for s in latest.values()), default=None)
    news2 = score(latest_values(scorable(latest), current.now))
    others = tuple(other_measures(latest, current.t.language))
    return ResidentRow(resident, values, news2, last, open_alerts, others)


def _open_alert_counts(current: Page) -> dict[str, int]:
    service = alerts_of(current.request)
    if service is None:
        return {}
    states = [s for s in AlertState if s is not AlertState.CLEARED_ACK]
    counts: dict[str, int] = {}
    for row in service.engine.store.find(organisations=current.orgs, states=states, limit=1000):
        if row.resident:
            counts[row.resident] = counts.get(row.resident, 0) + 1
    return counts


def shown_vitals(rows: list[ResidentRow]) -> list[Vital]:
    """The vitals at least one resident has a value for (no empty columns)."""
    present = {key for row in rows for key in row.values}
    return [v for v in VITALS if v.key in present]


@router.get("/residents", response_class=HTMLResponse)
async def residents(current: CurrentPage) -> HTMLResponse:
    counts = _open_alert_counts(current)
    rows = [
        resident_row(current, r, counts.get(r.id, 0))
        for r in queries.residents(current.conn, current.orgs)
    ]
    return render(current, "residents.html", rows=rows, vitals=shown_vitals(rows))


def chart_points(
    store: TimeSeriesStore, resident_id: str, vital: Vital, end: datetime, range_key: str
) -> list[ChartPoint]:
    """The vital's readings under any of its codes (:attr:`Vital.codes`), oldest first."""
    span, width = RANGES[range_key]
    start = end - span
    found = sorted(vital.codes)
    if width is None:
        samples = sorted(
            (
                s
                for code in found
                for s in store.query(code=code, start=start, end=end, resident_id=resident_id)
            ),
            key=lambda s: s.time,
        )
        if len(samples) <= MAX_RAW_POINTS:
            return [ChartPoint(s.time, s.value) for s in samples]
        width = ROLLUP_WIDTHS[0]  # dense data (e.g. a wearable every minute): 5-min buckets
    merged: dict[datetime, list[Bucket]] = {}
    for code in found:
        for b in store.rollup(
            code=code, start=start, end=end, width=width, resident_id=resident_id
        ):
            merged.setdefault(b.start, []).append(b)
    return [_point(at + width / 2, merged[at]) for at in sorted(merged)]


def _point(at: datetime, buckets: list[Bucket]) -> ChartPoint:
    count = sum(b.count for b in buckets)
    mean = sum(b.mean * b.count for b in buckets) / count if count else buckets[0].mean
    return ChartPoint(at, mean, min(b.minimum for b in buckets), max(b.maximum for b in buckets))


def _charts(
    current: Page, resident_id: str, row: ResidentRow, range_key: str
) -> list[dict[str, object]]:
    rules = rules_of(current)
    t, zone = current.t, current.settings.zone
    end = current.now + HEADROOM
    start = end - RANGES[range_key][0]

    def label(moment: datetime) -> str:
        local = moment.astimezone(zone)
        return local.strftime("%H:%M") if range_key == "24h" else local.strftime("%d.%m")

    charts: list[dict[str, object]] = []
    for vital in VITALS:
        points = chart_points(current.hub.store, resident_id, vital, end, range_key)
        if not points and vital.key not in row.values:
            continue
        unit = row.values[vital.key].unit if vital.key in row.values else ""
        title = t("vital." + vital.key)
        svg = render_chart(
            points,
            start=start,
            end=end,
            thresholds=thresholds_for(vital, rules, current.t.language),
            title=title,
            gap=GAPS[range_key],
            unit=unit,
            zone=zone,
            time_label=label,
            empty_text=t("resident.no_data"),
            decimal_comma=current.t.language == "da",
        )
        rolled = range_key == "24h" and any(p.low is not None for p in points)
        caption = t("resident.caption_" + ("24h_buckets" if rolled else range_key), n=len(points))
        charts.append({"title": title, "caption": caption, "svg": Markup(svg)})  # noqa: S704
    return charts


@router.get("/residents/{resident_id}", response_class=HTMLResponse)
async def resident(
    resident_id: str,
    current: CurrentPage,
    range: RangeKey = "24h",  # noqa: A002
) -> HTMLResponse:
    found = queries.resident(current.conn, resident_id, current.orgs)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_resident"))
    row = resident_row(current, found)
    service = alerts_of(current.request)
    open_alerts = []
    if service is not None:
        states = [s for s in AlertState if s is not AlertState.CLEARED_ACK]
        open_alerts = [
            a
            for a in service.engine.store.find(organisations=current.orgs, states=states)
            if a.resident == resident_id
        ]
    present = [v for v in VITALS if v.key in row.values]
    return render(
        current,
        "resident.html",
        resident=found,
        row=row,
        vitals=present,
        range_key=range,
        charts=_charts(current, resident_id, row, range),
        open_alerts=open_alerts,
        titles={a.id: alert_title(a, rules_of(current), current.t) for a in open_alerts},
        devices=queries.devices_of_resident(current.conn, resident_id),
    )
