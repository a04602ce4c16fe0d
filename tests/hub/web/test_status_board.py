"""The board's status banner over HTTP (the whole app stack, a SQLite file): the all-calm text
only when the hub can vouch for calm, the banner route the page polls, and org names escaped."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from hub.auth import Role
from tests.hub.web.conftest import SignedIn
from tests.support.browser import PASSWORD, FastWorld

pytestmark = pytest.mark.asyncio

CALM = "Alt er roligt lige nu"


async def _next_tick(world: FastWorld) -> None:
    """Let the alert engine's timer run once on the moved clock (else it looks stalled)."""
    before = world.alerts.last_tick
    while world.alerts.last_tick == before:
        await asyncio.sleep(0.05)


async def test_a_stopped_alert_engine_is_named_and_the_board_is_not_calm(
    world: FastWorld, signed_in: SignedIn
) -> None:
    client, _ = await signed_in("sara")  # the world's alert service was never started
    board = (await client.get("/board")).text
    assert 'class="status-banner" role="alert"' in board
    assert "Alarmmotoren kører ikke" in board
    assert CALM not in board
    assert "Hjem kan ikke bekræfte, at alt er roligt" in board
    banner = await client.get("/board/status")
    assert banner.status_code == 200
    assert 'data-reason="engine_stopped"' in banner.text
    assert CALM not in (await client.get("/board/fragment")).text


async def test_a_running_healthy_hub_says_all_is_calm_until_a_gateway_is_silent(
    world: FastWorld, signed_in: SignedIn
) -> None:
    client, _ = await signed_in("sara")
    async with world.alerts:
        board = (await client.get("/board")).text
        assert CALM in board
        assert 'class="status-banner"' not in board
        assert 'data-calm="yes"' in (await client.get("/board/status")).text
        world.clock.advance(minutes=3)  # gw-a and gw-b never reported since the start
        await _next_tick(world)
        banner = (await client.get("/board/status")).text
        assert 'data-reason="gateways_offline"' in banner
        assert "Aarhus Kommune: 1 gateway(s) offline eller aldrig forbundet: gw-a." in banner
        assert "gw-b" not in banner  # another organisation's gateway
        fragment = (await client.get("/board/fragment")).text
        assert CALM not in fragment
        world.gateway("gw-a")  # a heartbeat: online again
        assert CALM in (await client.get("/board/fragment")).text
        world.clock.advance(timedelta(minutes=13).total_seconds())  # 16 min without a reading
        await _next_tick(world)
        banner = (await client.get("/board/status")).text
        assert 'data-reason="no_data"' in banner


async def test_organisation_names_in_the_banner_are_escaped(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.hub.registry.add_organisation("org-x", "<b>Evil</b> Kommune")
    world.users.create_user("xena", PASSWORD, Role.CARE_STAFF, "org-x", display_name="Xena")
    client, _ = await signed_in("xena")
    banner = (await client.get("/board/status")).text
    assert "&lt;b&gt;Evil&lt;/b&gt; Kommune" in banner
    assert "<b>Evil</b>" not in banner
