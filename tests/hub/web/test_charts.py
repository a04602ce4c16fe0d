"""Server-side SVG charts: points, thresholds, axes, escaping, empty ranges."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.web.charts import ChartPoint, Threshold, nice_ticks, render_chart, segments
from hub.web.errors import ChartError

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=24)
ZONE = ZoneInfo("Europe/Copenhagen")
NS = "{http://www.w3.org/2000/svg}"


def draw(points: list[ChartPoint], thresholds: list[Threshold] | None = None, **kw: object) -> str:
    return render_chart(
        points,
        start=START,
        end=END,
        thresholds=thresholds or [],
        title=str(kw.get("title", "Temperatur")),
        unit="°C",
        zone=ZONE,
        time_label=lambda m: m.astimezone(ZONE).strftime("%H:%M"),
        empty_text="Ingen målinger",
        decimal_comma=bool(kw.get("decimal_comma", False)),
    )


def test_each_point_is_a_circle_at_its_time_and_value() -> None:
    points = [ChartPoint(START + timedelta(hours=h), 36.0 + h / 10) for h in range(0, 24, 2)]
    svg = draw(points)
    root = ET.fromstring(svg)  # well-formed XML
    circles = root.findall(f"{NS}circle")
    assert len(circles) == len(points)
    xs = [float(c.get("cx", "0")) for c in circles]
    ys = [float(c.get("cy", "0")) for c in circles]
    assert xs == sorted(xs)  # left to right in time
    assert ys == sorted(ys, reverse=True)  # rising values are drawn higher (smaller y)
    assert "<title>01:00: 36 °C</title>" in svg  # hover text in local time (UTC+1)


def test_threshold_line_sits_at_its_value_between_the_ticks() -> None:
    points = [
        ChartPoint(START + timedelta(hours=1), 36.0),
        ChartPoint(START + timedelta(hours=2), 40.0),
    ]
    svg = draw(points, [Threshold(38.5, "> 38.5", "high")])
    root = ET.fromstring(svg)
    group = root.find(f"{NS}g[@class='threshold sev-high']")
    assert group is not None
    line = group.find(f"{NS}line")
    assert line is not None
    y = float(line.get("y1", "0"))
    circles = root.findall(f"{NS}circle")
    low_y, high_y = float(circles[0].get("cy", "0")), float(circles[1].get("cy", "0"))
    # 38.5 lies 5/8 of the way from 36 to 40
    assert y == pytest.approx(low_y + (high_y - low_y) * 2.5 / 4, abs=0.2)
    assert "&gt; 38.5" in svg


def test_danish_charts_write_a_decimal_comma() -> None:
    points = [
        ChartPoint(START + timedelta(hours=1), 36.5),
        ChartPoint(START + timedelta(hours=2), 37.25),
    ]
    svg = draw(points, decimal_comma=True)
    assert ": 36,5 °C</title>" in svg
    assert ": 37,25 °C</title>" in svg
    assert "36.5" not in svg.split("</title>", 1)[1]  # no decimal point in the drawn text


def test_rolled_up_points_draw_a_min_max_band() -> None:
    points = [ChartPoint(START + timedelta(hours=h), 37.0, 36.5, 37.6) for h in range(3)]
    root = ET.fromstring(draw(points))
    band = root.find(f"{NS}polygon[@class='band']")
    assert band is not None
    assert len(band.get("points", "").split()) == 6


def test_text_is_escaped() -> None:
    svg = draw([], title='<script>alert("x")</script>')
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "Ingen målinger" in svg


def test_time_axis_labels_are_local_time_every_four_hours() -> None:
    svg = draw([ChartPoint(START + timedelta(hours=3), 37.0)])
    labels = re.findall(r'text-anchor="middle">(\d\d:\d\d)<', svg)
    assert labels == ["04:00", "08:00", "12:00", "16:00", "20:00", "00:00"]


def test_nice_ticks_and_bad_ranges() -> None:
    assert nice_ticks(35.2, 39.7) == [34, 36, 38, 40]
    assert nice_ticks(35.6, 38.9) == [35, 36, 37, 38, 39]
    assert nice_ticks(0, 100) == [0, 25, 50, 75, 100]
    assert nice_ticks(5, 5)[0] <= 5 <= nice_ticks(5, 5)[-1]
    with pytest.raises(ChartError, match="finite"):
        nice_ticks(float("nan"), 1)
    with pytest.raises(ChartError, match="not after start"):
        render_chart([], start=END, end=START, title="x", zone=ZONE, time_label=lambda m: "")


def test_line_breaks_across_gaps_without_readings() -> None:
    hours = [0, 1, 2, 8, 9, 20]
    points = [ChartPoint(START + timedelta(hours=h), 37.0) for h in hours]
    parts = segments(points, timedelta(hours=2))
    assert [[int((p.time - START).total_seconds() // 3600) for p in part] for part in parts] == [
        [0, 1, 2],
        [8, 9],
        [20],
    ]
    svg = render_chart(
        points,
        start=START,
        end=END,
        title="t",
        zone=ZONE,
        time_label=str,
        gap=timedelta(hours=2),
    )
    assert svg.count("<polyline") == 2  # a single point gets a dot, no line
    assert svg.count('class="pt"') == 6
    assert len(segments(points, None)) == 1
