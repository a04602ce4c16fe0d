"""The dashboard's JSON API (in ``/openapi.json``): residents with their latest vital signs
and NEWS2, a resident's time series, and homes with gateway health.

Authenticated like the alerts API: ``Authorization: Bearer <API token>`` for integrations
(tokens are issued on the administration page or by ``hjem admin``) or the session cookie.
Users see only their own organisation; anything else is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from hub.auth import User, current_user
from hub.web import queries
from hub.web.site import Page, hub_of, language_of, public_page
from hub.web.views.homes import home_cards
from hub.web.views.residents import HEADROOM, RANGES, chart_points, resident_row
from hub.web.vitals import VITALS

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

Measure = Literal[
    "heart_rate",
    "pulse_rate_bp",
    "pulse_rate_oximeter",
    "spo2",
    "blood_pressure_systolic",
    "blood_pressure_diastolic",
    "respiration_rate",
    "body_temperature",
    "body_weight",
    "glucose_capillary_whole_blood",
    "glucose_capillary_plasma",
    "glucose_venous_whole_blood",
    "glucose_venous_plasma",
    "glucose_arterial_whole_blood",
    "glucose_arterial_plasma",
    "glucose_interstitial",
    "glucose_undetermined",
]
"""The keys of :data:`hub.web.vitals.VITALS` (a test keeps the two equal)."""


class VitalValue(BaseModel):
    measure: str = Field(description="Hjem measure key (schemas/codes.toml)")
    value: float
    unit: str | None = Field(description="UCUM unit as received")
    time: datetime = Field(description="when it was measured (UTC)")
    fresh: bool = Field(description="recent enough to count towards NEWS2")


class News2View(BaseModel):
    total: int = Field(description="NEWS2 over the parameters measurable at home")
    risk: str = Field(description="low, low-medium, medium or high")
    missing: list[str] = Field(description="parameters not in the score")


class ResidentSummary(BaseModel):
    id: str = Field(description="pseudonymous resident id")
    name: str
    home: str | None
    home_label: str
    vitals: list[VitalValue]
    news2: News2View | None
    last_reading: datetime | None


class SeriesPoint(BaseModel):
    time: datetime
    value: float = Field(description="the sample, or the bucket mean for 7 d")
    minimum: float | None = None
    maximum: float | None = None


class Series(BaseModel):
    resident: str
    measure: str
    range: str
    points: list[SeriesPoint]


class SensorHealth(BaseModel):
    id: str
    name: str
    battery_percent: int | None
    rssi_dbm: int | None
    last_seen: datetime | None


class GatewayHealth(BaseModel):
    id: str
    online: bool | None = Field(description="None: never heard from")
    last_seen: datetime | None
    outbox_depth: int | None
    sensors: list[SensorHealth]


class HomeHealth(BaseModel):
    id: str
    label: str
    team: str | None
    gateways: list[GatewayHealth]


ApiUser = Annotated[User, Depends(current_user)]


def _page(request: Request, user: User) -> Page:
    base = public_page(request)
    return Page(request, user, language_of(request), base.csrf, base.settings, base.now)


def _summary(current: Page, resident: queries.ResidentView) -> ResidentSummary:
    row = resident_row(current, resident)
    vitals = []
    for key, shown in row.values.items():
        sample = shown.sample
        vitals.append(
            VitalValue(
                measure=key,
                value=sample.value,
                unit=sample.unit,
                time=sample.time,
                fresh=shown.fresh,
            )
        )
    news = row.news2
    return ResidentSummary(
        id=resident.id,
        name=resident.name,
        home=resident.home_id,
        home_label=resident.home_label,
        vitals=vitals,
        news2=News2View(total=news.total, risk=news.risk, missing=list(news.missing))
        if news
        else None,
        last_reading=row.last,
    )


@router.get("/residents", summary="Residents with latest vital signs and NEWS2")
async def list_residents(request: Request, user: ApiUser) -> list[ResidentSummary]:
    current = _page(request, user)
    return [_summary(current, r) for r in queries.residents(current.conn, current.orgs)]


def _resident_or_404(current: Page, resident_id: str) -> queries.ResidentView:
    found = queries.resident(current.conn, resident_id, current.orgs)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no resident {resident_id!r}")
    return found


@router.get("/residents/{resident_id}", summary="One resident's latest vital signs and NEWS2")
async def get_resident(request: Request, resident_id: str, user: ApiUser) -> ResidentSummary:
    current = _page(request, user)
    return _summary(current, _resident_or_404(current, resident_id))


@router.get(
    "/residents/{resident_id}/series",
    summary="A vital sign over 24 h (samples) or 7 d (hourly min/mean/max)",
)
async def get_series(
    request: Request,
    resident_id: str,
    user: ApiUser,
    measure: Annotated[Measure, Query(description="measure key, e.g. heart_rate")],
    range: Annotated[Literal["24h", "7d"], Query()] = "24h",  # noqa: A002
) -> Series:
    current = _page(request, user)
    _resident_or_404(current, resident_id)
    vital = next(v for v in VITALS if v.key == measure)
    assert range in RANGES
    points = chart_points(hub_of(request).store, resident_id, vital, current.now + HEADROOM, range)
    return Series(
        resident=resident_id,
        measure=measure,
        range=range,
        points=[
            SeriesPoint(time=p.time, value=p.value, minimum=p.low, maximum=p.high) for p in points
        ],
    )


@router.get("/homes", summary="Homes with gateway and sensor health")
async def list_homes(request: Request, user: ApiUser) -> list[HomeHealth]:
    current = _page(request, user)
    out = []
    for home in home_cards(current):
        gateways = [
            GatewayHealth(
                id=g.id,
                online=g.state.online if g.state else None,
                last_seen=g.state.last_seen if g.state else None,
                outbox_depth=g.outbox,
                sensors=[
                    SensorHealth(
                        id=s.id,
                        name=s.name,
                        battery_percent=s.battery,
                        rssi_dbm=s.rssi,
                        last_seen=s.last_seen,
                    )
                    for s in g.sensors
                ],
            )
            for g in home.gateways
        ]
        out.append(HomeHealth(id=home.id, label=home.label, team=home.team, gateways=gateways))
    return out
