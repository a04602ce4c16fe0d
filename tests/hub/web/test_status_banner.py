"""Never silently blind (issue 13): the board's red status banner and ``/readyz`` in a real
headless Chromium against a real hub and a real Mosquitto with the shipped configuration.

The broker is stopped by its PID while care staff look at the board: the banner naming the
broker must appear and ``/readyz`` must answer 503 within 30 s, and the "all calm" text must
be gone; the broker is started again on the same port: banner gone, ``/readyz`` 200. Users
of an organisation without residents and of a misspelt organisation are told so and never
see the all-calm text. Measured times go to ``test-artifacts/status-timings.txt``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from foundation.clock import utcnow
from hub.alerts.settings import AlertSettings
from hub.auth import Role, UserStore, fast_hasher
from hub.config import HttpSettings, HubSettings, IngestSettings, MqttSettings
from hub.service import Hub
from tests.support.browser import CHROMIUM_ARGS, PASSWORD, RULES, seed_registry, seed_users
from tests.support.deploy import SecureBroker, start_secure_broker

pytestmark = [pytest.mark.asyncio, pytest.mark.browser, pytest.mark.mosquitto, pytest.mark.slow]

CALM = "Alt er roligt lige nu"
CALM_EN = "All is calm right now"
BANNER_WITHIN_S = 30.0
USERS = {"hub": "hub-secret"}


@dataclass
class Stack:
    hub: Hub
    url: str
    browser: Browser
    secure: SecureBroker
    artifacts: Path
    errors: list[str] = field(default_factory=list)

    async def page(self, username: str, **context: Any) -> Page:
        options = {"locale": "da-DK", "timezone_id": "Europe/Copenhagen", **context}
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 900}, **options)
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
        await page.goto(f"{self.url}/board")
        await page.get_by_label("Brugernavn").fill(username)
        await page.get_by_label("Adgangskode").fill(PASSWORD)
        await page.get_by_role("button", name="Log ind").click()
        await expect(page).to_have_url(f"{self.url}/board")
        await page.wait_for_load_state("load")
        return page

    def note(self, line: str) -> None:
        with (self.artifacts / "status-timings.txt").open("a", encoding="utf-8") as out:
            out.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")
        print(line)


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = start_secure_broker(tmp_path / "broker", USERS)
    try:
        yield broker
    finally:
        broker.broker.stop()


@pytest_asyncio.fixture
async def stack(tmp_path: Path, secure: SecureBroker, artifacts_dir: Path) -> AsyncIterator[Stack]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    broker = secure.broker
    settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        mqtt=MqttSettings(url=broker.url, client_id="hub", username="hub", password="hub-secret"),
        http=HttpSettings(host="127.0.0.1", port=0),
        # The seeded gateways never report here: give them an hour before they count.
        ingest=IngestSettings(sqlite_synchronous="normal", gateway_timeout_s=3600),
        alerts=AlertSettings(rules_file=rules, mqtt=False, stream_keepalive_seconds=1),
    )
    async with Hub(settings) as hub:
        seed_registry(hub.registry, datetime.now(UTC))
        hub.registry.add_organisation("org-c", "Cirkusbyen")  # no residents
        users = UserStore(hub.conn, utcnow, fast_hasher())
        seed_users(users)
        users.create_user("carl", PASSWORD, Role.CARE_STAFF, "org-c", display_name="Carl")
        users.create_user("mis", PASSWORD, Role.CARE_STAFF, "org-aa", display_name="Mis Stavet")
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            running = Stack(
                hub, f"http://127.0.0.1:{hub.http_port}", browser, secure, artifacts_dir
            )
            try:
                yield running
            finally:
                await browser.close()
            assert running.errors == []  # no script errors, nothing blocked by the CSP


async def _ready(http: httpx.AsyncClient, url: str) -> tuple[int, dict[str, Any]]:
    reply = await http.get(f"{url}/readyz")
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


async def _until_readyz(http: httpx.AsyncClient, url: str, code: int, timeout: float) -> float:
    """Seconds until /readyz answers ``code`` (polled every 0.2 s)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        status, _ = await _ready(http, url)
        if status == code:
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz did not answer {code} within {timeout:.0f} s")


async def _timed(coro: Any) -> float:
    start = time.monotonic()
    await coro
    return time.monotonic() - start


@pytest.mark.timeout(240)
async def test_broker_stopped_shows_the_banner_and_readyz_503_then_back(stack: Stack) -> None:
    page = await stack.page("sara")
    banner = page.locator(".status-banner")
    await expect(page.get_by_text(CALM)).to_be_visible()
    await expect(banner).to_have_count(0)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await _ready(http, stack.url))[0] == 200

        stack.secure.broker.stop()  # by its PID
        stopped = time.monotonic()
        readyz_s, banner_s = await asyncio.gather(
            _until_readyz(http, stack.url, 503, BANNER_WITHIN_S),
            _timed(
                expect(banner.get_by_text("MQTT-brokeren")).to_be_visible(
                    timeout=BANNER_WITHIN_S * 1000
                )
            ),
        )
        status, body = await _ready(http, stack.url)
        assert status == 503
        assert [r["code"] for r in body["reasons"]] == ["broker_down"]
        await expect(banner).to_contain_text("Hjem kan ikke stå inde for, at alt er roligt")
        await expect(page.get_by_text(CALM)).to_have_count(0)
        await expect(page.get_by_text("Hjem kan ikke bekræfte, at alt er roligt")).to_be_visible()
        assert await banner.get_attribute("role") == "alert"
        assert await page.locator(".status-banner button").count() == 0  # not dismissable
        await page.screenshot(path=str(stack.artifacts / "dashboard-status-banner.png"))
        stack.note(
            f"broker down: /readyz 503 after {readyz_s:.1f} s, banner after {banner_s:.1f} s"
        )
        assert time.monotonic() - stopped <= BANNER_WITHIN_S

        stack.secure.broker.start()  # the same port and configuration
        back_readyz = await _until_readyz(http, stack.url, 200, 90)
        back_banner = await _timed(expect(banner).to_have_count(0, timeout=90_000))
        await expect(page.get_by_text(CALM)).to_be_visible(timeout=15_000)
        stack.note(
            f"broker back: /readyz 200 after {back_readyz:.1f} s,"
            f" banner gone {back_banner:.1f} s later"
        )
        assert (await _ready(http, stack.url))[1]["reasons"] == []


async def test_no_residents_and_a_misspelt_organisation_never_look_calm(stack: Stack) -> None:
    sara = await stack.page("sara")
    await expect(sara.get_by_text(CALM)).to_be_visible()  # the control: a healthy org-a

    carl = await stack.page("carl")
    banner = carl.locator(".status-banner")
    await expect(banner).to_contain_text("Der er ingen borgere i Cirkusbyen")
    await expect(carl.get_by_text(CALM)).to_have_count(0)

    mis = await stack.page("mis")
    await expect(mis.locator(".status-banner")).to_contain_text("»org-aa« findes ikke i registret")
    await expect(mis.get_by_text(CALM)).to_have_count(0)

    # In English too, and after the board's own refreshes (fragment and banner poll).
    await mis.context.add_cookies([{"name": "hjem_lang", "value": "en", "url": stack.url}])
    await mis.reload()
    await expect(mis.locator(".status-banner")).to_contain_text(
        "Your organisation \u201corg-aa\u201d is not in the registry"
    )
    await mis.locator("#board").dispatch_event("hjem:refresh")
    await mis.wait_for_timeout(6000)  # at least one banner poll
    await expect(mis.locator(".status-banner")).to_be_visible()
    await expect(mis.get_by_text(CALM_EN)).to_have_count(0)
    for user, page in (("carl", carl), ("mis", mis)):
        fragment = await page.request.get(f"{stack.url}/board/fragment")
        assert CALM not in await fragment.text(), user
        assert CALM_EN not in await fragment.text(), user
    await carl.screenshot(path=str(stack.artifacts / "dashboard-status-no-residents.png"))
