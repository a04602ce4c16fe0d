"""The dashboard in a real browser (headless Debian Chromium via Playwright) against a real
hub: uvicorn on a free loopback port, a SQLite file, a real Mosquitto and the alert engine.

Screenshots of the main pages go to ``test-artifacts/`` (the ``artifacts_dir`` fixture).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto
from hub.alerts.settings import AlertSettings
from hub.auth import UserStore, fast_hasher
from hub.config import HttpSettings, IngestSettings, MqttSettings
from hub.service import Hub
from schemas.topics import observations_topic, status_topic
from tests.support.browser import (
    CHROMIUM_ARGS,
    EVIL_NAME,
    PASSWORD,
    RULES,
    batch_of,
    observation,
    seed_registry,
    seed_users,
    status_payload,
)
from tests.support.hub_db import HubDatabases

pytestmark = [pytest.mark.asyncio, pytest.mark.browser, pytest.mark.mosquitto, pytest.mark.slow]

VIEWPORT = {"width": 1360, "height": 900}


@dataclass
class Live:
    hub: Hub
    url: str
    browser: Browser
    broker: Mosquitto
    artifacts: Path
    errors: list[str] = field(default_factory=list)
    """Script errors and Content-Security-Policy violations seen in any page."""

    async def publish(self, topic: str, payload: bytes) -> None:
        async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier="gw-sim") as client:
            await client.publish(topic, payload, qos=1)

    async def page(self, username: str | None = None, **context: Any) -> Page:
        options = {"locale": "da-DK", "timezone_id": "Europe/Copenhagen", **context}
        ctx = await self.browser.new_context(viewport=VIEWPORT, **options)
        page = await ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(msg.text)
                if msg.type == "error" and "Failed to load resource" not in msg.text
                else None
            ),
        )
        if username:
            await sign_in(page, self.url, username)
        return page

    async def shot(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.artifacts / f"dashboard-{name}.png"), full_page=True)


async def sign_in(page: Page, url: str, username: str) -> None:
    await page.goto(f"{url}/board")
    await expect(page).to_have_url(f"{url}/sign-in?next=/board")
    await page.get_by_label("Brugernavn").fill(username)
    await page.get_by_label("Adgangskode").fill(PASSWORD)
    await page.get_by_role("button", name="Log ind").click()
    await expect(page).to_have_url(f"{url}/board")
    await page.wait_for_load_state("load")  # the deferred script has set up the page


@pytest_asyncio.fixture
async def live(
    tmp_path: Path, hub_dbs: HubDatabases, broker: Mosquitto, artifacts_dir: Path
) -> AsyncIterator[Live]:
    """A running hub on either engine (a test that needs only one says so: SQLITE_ONLY)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    settings = hub_dbs.settings(
        mqtt=MqttSettings(url=broker.url, client_id="hub-web-test"),
        http=HttpSettings(host="127.0.0.1", port=0),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=AlertSettings(rules_file=rules, mqtt=False, stream_keepalive_seconds=1),
    )
    now = datetime.now(UTC)
    async with Hub(settings) as hub:
        seed_registry(hub.registry, now)
        seed_users(UserStore(hub.conn, utcnow, fast_hasher()))
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            running = Live(hub, f"http://127.0.0.1:{hub.http_port}", browser, broker, artifacts_dir)
            try:
                yield running
            finally:
                await browser.close()
            assert running.errors == []  # no script errors, nothing blocked by the CSP


async def test_live_alert_acknowledged_and_audited(live: Live) -> None:
    page = await live.page("sara")
    await expect(page.get_by_text("Ingen åbne alarmer")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    await page.evaluate("window.__sameDocument = true")

    reading = observation("body_temperature", "39.4", datetime.now(UTC), "dev-thermo", "gw-a")
    await live.publish(observations_topic("gw-a"), batch_of("gw-a", [reading], "fever"))

    card = page.locator("[data-alert-id]")
    await expect(card).to_have_count(1, timeout=15_000)
    await expect(card).to_have_class("alert sev-high is-new")
    await expect(card.locator(".alert-title")).to_have_text("Feber")
    assert await page.evaluate("window.__sameDocument") is True  # no reload happened
    assert await page.get_attribute("body", "data-last-cue")  # the audible cue was played
    await expect(page.locator("[data-open-count]")).to_have_text("1")
    countdown = card.locator(".countdown")
    await expect(countdown).to_have_text(lambda_free_minutes())
    await expect(card.locator(".escalation")).to_contain_text("eskaleres kl. ")
    await live.shot(page, "board")

    await card.get_by_label("Note").fill("Ringer til Anna nu")
    await card.get_by_role("button", name="Kvittér").click()
    await expect(card.locator(".state")).to_have_text("Aktiv, kvitteret", timeout=10_000)
    await expect(card.get_by_role("button", name="Kvittér")).to_have_count(0)

    await page.get_by_role("link", name="Revisionslog").click()
    row = page.locator("tr").filter(has=page.get_by_role("cell", name="Kvitteret", exact=True))
    await expect(row).to_have_count(1)
    await expect(row.locator(".actor")).to_have_text("Sara Nielsen")
    await expect(row).to_contain_text("Ringer til Anna nu")
    await live.shot(page, "audit")


def lambda_free_minutes() -> Any:
    """The first escalation deadline is 10 minutes away: "om 10 min" (or 9 a moment later)."""
    import re

    return re.compile(r"^om (10|9) min$")


SQLITE_ONLY = pytest.mark.parametrize("hub_dbs", ["sqlite"], indirect=True)
"""A browser test of what does not depend on the engine (the live alert path and the
charts' reads run on PostgreSQL too; a browser test is slow, so the rest runs once)."""


async def test_pages_charts_isolation_and_escaping(live: Live) -> None:
    now = datetime.now(UTC)
    history = [
        observation(
            "body_temperature",
            f"{36.9 + 0.4 * math.sin(i / 6):.2f}",
            now - timedelta(hours=23) + timedelta(minutes=30 * i),
            "dev-thermo",
            "gw-a",
        )
        for i in range(46)
    ]
    oxygen = [
        observation(
            "spo2",
            f"{96 + 2 * math.sin(i / 5):.0f}",
            now - timedelta(hours=23) + timedelta(minutes=30 * i),
            "dev-oxi",
            "gw-a",
        )
        for i in range(46)
    ]
    await live.publish(observations_topic("gw-a"), batch_of("gw-a", history + oxygen, "history"))
    await live.publish(status_topic("gw-a"), status_payload("gw-a", now))

    signed_out = await live.page()
    await signed_out.goto(f"{live.url}/residents/r-anna")
    await expect(signed_out).to_have_url(f"{live.url}/sign-in?next=/residents/r-anna")
    await expect(signed_out.locator("html")).to_have_attribute("lang", "da")
    await live.shot(signed_out, "sign-in")

    page = await live.page("ida")
    await page.goto(f"{live.url}/residents")
    await expect(page.get_by_role("link", name="Anna Jensen")).to_be_visible()
    for _ in range(100):  # the hub stores the batch asynchronously
        if await page.locator("td .vital-value").count() >= 2:
            break
        await asyncio.sleep(0.1)
        await page.reload()
    await live.shot(page, "residents")

    await page.get_by_role("link", name="Anna Jensen").click()
    chart = page.locator('svg[aria-label="Temperatur"]')
    await expect(chart.locator("circle.pt")).to_have_count(46)
    await expect(chart.locator(".threshold text")).to_have_text("> 38,5")  # Danish comma
    await live.shot(page, "resident")
    await page.get_by_role("link", name="7 dage").click()
    await expect(page.locator('svg[aria-label="Temperatur"] polygon.band')).to_have_count(1)
    await live.shot(page, "resident-7d")
    await page.goto(f"{live.url}/alerts/history")
    await live.shot(page, "history")

    await page.goto(f"{live.url}/homes")
    name = page.locator(".device-name", has_text="Termometer")
    await expect(name).to_have_text(EVIL_NAME)  # shown as text, not run
    assert await page.title() != "pwned"
    await expect(page.get_by_text("Online")).to_be_visible()
    await live.shot(page, "homes")

    await page.goto(f"{live.url}/admin")
    await live.shot(page, "admin")
    await page.goto(f"{live.url}/admin/devices/dev-thermo")
    await live.shot(page, "device")

    other = await live.page("bo")
    reply = await other.goto(f"{live.url}/residents/r-anna")
    assert reply is not None
    assert reply.status == 404
    await expect(other.get_by_text("Ikke fundet")).to_be_visible()
    await other.goto(f"{live.url}/residents")
    await expect(other.get_by_text("Anna Jensen")).to_have_count(0)


@SQLITE_ONLY
async def test_keyboard_language_and_mute(live: Live) -> None:
    page = await live.page("sara")
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Spring til indhold"
    mute = page.locator("#mute-toggle")
    await expect(mute).to_have_text("Lyd til")
    await mute.focus()
    await page.keyboard.press("Enter")
    await expect(mute).to_have_text("Lyd fra")
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Active alerts")).to_be_visible()
    mute_en = page.get_by_role("button", name="Sound off")
    await expect(mute_en).to_have_attribute("data-sound", "off")  # remembered
    await live.shot(page, "board-english")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{live.url}/residents")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling of the page on a phone
    await live.shot(page, "residents-phone")
