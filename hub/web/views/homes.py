"""Homes and their gateways: online/offline, last seen, outbox depth, and each sensor's
battery, signal strength and last reading (from the gateway's status messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from hub.registry.gateways import GatewayState
from hub.web import queries
from hub.web.site import CurrentPage, Page, PageRoute, render
from schemas.models import AdapterHealth

__all__ = ["GatewayView", "HomeCard", "SensorView", "home_cards", "router"]

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True, slots=True)
class SensorView:
    id: str
    name: str
    resident: str | None
    battery: int | None
    rssi: int | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class GatewayView:
    id: str
    state: GatewayState | None
    outbox: int | None
    dropped: int | None
    software: str | None
    adapters: tuple[AdapterHealth, ...]
    sensors: tuple[SensorView, ...]


@dataclass(frozen=True, slots=True)
class HomeCard:
    id: str
    label: str
    team: str | None
    gateways: tuple[GatewayView, ...]


def _gateway(
    publisher: str, state: GatewayState | None, devices: dict[str, queries.DeviceView]
) -> GatewayView:
    status = state.status if state else None
    sensors = []
    for health in status.devices if status else []:
        known = devices.get(health.id)
        sensors.append(
            SensorView(
                health.id,
                (known.description if known and known.description else health.id),
                known.resident_name if known else None,
                health.battery_percent,
                health.rssi_dbm,
                health.last_seen,
            )
        )
    return GatewayView(
        publisher,
        state,
        status.outbox_depth if status else None,
        status.outbox_dropped if status else None,
        status.software if status else None,
        tuple(status.adapters) if status else (),
        tuple(sensors),
    )


def home_cards(current: Page) -> list[HomeCard]:
    gateways = current.hub.gateways
    devices = {d.id: d for d in queries.devices(current.conn, current.orgs)}
    return [
        HomeCard(
            home.id,
            home.label,
            home.team,
            tuple(_gateway(p, gateways.get(p), devices) for p in home.gateways),
        )
        for home in queries.homes(current.conn, current.orgs)
    ]


@router.get("/homes", response_class=HTMLResponse)
async def homes(current: CurrentPage) -> HTMLResponse:
    return render(current, "homes.html", homes=home_cards(current))
