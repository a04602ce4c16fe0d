"""Care-staff essentials in a real browser (headless Debian Chromium via Playwright) against
the dashboard served by uvicorn on a free loopback port, over a real hub database and alert
engine whose clock stands still (T0 = Monday 09:00 in Copenhagen), so that times are exact.

Covered: the alert card's triggering value and time, the acknowledging user and note, the
escalation time on the board's clock, out-of-range highlighting, every glucose type, one
language at a time (no snake_case keys, no English notes on Danish pages), the sound toggle
and its repetition, and the first alert above the fold on a 390 x 844 phone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.browser import CHROMIUM_ARGS, PASSWORD, T0, FastWorld
from tests.support.served import serving

pytestmark = [pytest.mark.asyncio, pytest.mark.browser, pytest.mark.slow]

RULES = """
[escalation.care]
repeat_seconds = 300
steps = [
  { responder = "team:day", ack_deadline_seconds = 600 },
  { responder = "team:lead", ack_deadline_seconds = 900 },
]

[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">"
value = 38.5
severity = "high"
summaries = { da = "Feber", en = "Fever" }
escalation = "care"

[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
severity = "critical"
escalation = "care"

[[rule]]
id = "news2"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }]
min_parameters = 2

[[rule]]
id = "cgm-low"
kind = "threshold"
measure = "glucose_interstitial"
operator = "<"
value = 4
severity = "medium"
"""

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
"""A raw key (``spo2_scale_1``, ``board.note_hint`` parts) in a page's visible text."""
ENGLISH = ("not acknowledged", "escalated to", "cleared at", "not scored", "home subset")


@dataclass
class Served:
    world: FastWorld
    url: str
    browser: Browser
    errors: list[str] = field(default_factory=list)

    async def page(self, username: str, **context: Any) -> Page:
        options = {
            "locale": "da-DK",
            "timezone_id": "Europe/Copenhagen",
            "viewport": {"width": 1360, "height": 900},
            **context,
        }
        ctx = await self.browser.new_context(**options)
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
        await page.goto(f"{self.url}/sign-in?next=/board")
        await page.get_by_label("Brugernavn").fill(username)
        await page.get_by_label("Adgangskode").fill(PASSWORD)
        await page.get_by_role("button", name="Log ind").click()
        await expect(page).to_have_url(f"{self.url}/board")
        await page.wait_for_load_state("load")
        return page


def seed(world: FastWorld) -> None:
    """Anna: low SpO2 and a fast pulse (NEWS2 6), fever, four glucose sample types."""
    at = T0 - timedelta(minutes=2)  # 08:58 in Copenhagen
    world.store("spo2", "88", at, device="dev-oxi")
    world.store("pulse_rate_oximeter", "135", at, device="dev-oxi")
    world.store("body_temperature", "39.4", at - timedelta(minutes=3))
    for key, value in (
        ("glucose_capillary_whole_blood", "6.1"),
        ("glucose_capillary_plasma", "6.8"),
        ("glucose_venous_plasma", "5.5"),
        ("glucose_interstitial", "3.6"),
    ):
        world.store(key, value, at - timedelta(minutes=30), device="dev-oxi")


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    world = FastWorld(tmp_path, RULES)
    seed(world)
    try:
        async with serving(world.app) as url, async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            running = Served(world, url, browser)
            try:
                yield running
            finally:
                await browser.close()
            assert running.errors == []  # no script errors, nothing blocked by the CSP
    finally:
        world.close()


async def visible_text(page: Page) -> str:
    return str(await page.evaluate("document.body.innerText"))


async def test_card_shows_trigger_escalation_time_and_acknowledgement(served: Served) -> None:
    served.world.clock.advance(minutes=6)  # 09:06: the first deadline (09:10) is 4 min away
    page = await served.page("sara")
    spo2 = page.locator('[data-rule="spo2-low"]')
    await expect(spo2.locator(".alert-title")).to_have_text("Iltmætning 88 % < 92")
    await expect(spo2.locator(".trigger")).to_contain_text("88 %")
    await expect(spo2.locator(".trigger time")).to_have_text("målt i dag 08:58")
    await expect(spo2.locator(".escalation")).to_have_text(
        re.compile(r"^eskaleres kl\. 09:10 \(om 4 min\)")
    )
    fever = page.locator('[data-rule="fever"]')
    await expect(fever.locator(".alert-title")).to_have_text("Feber")
    await expect(fever.locator(".reading")).to_have_text("39,4 °C")

    await fever.get_by_label("Note").fill("Ringer til Anna nu")
    await fever.get_by_role("button", name="Kvittér").click()
    await expect(fever.locator(".ack-by")).to_have_text("Sara Nielsen", timeout=10_000)
    await expect(fever.locator(".ack-note")).to_have_text("Ringer til Anna nu")
    await expect(fever.locator(".escalation")).to_have_count(0)  # no deadline once acknowledged

    await page.get_by_role("button", name="English").click()
    await expect(spo2.locator(".escalation")).to_have_text(
        re.compile(r"^escalates at 09:10 \(in 4 min\)")
    )
    await expect(fever.locator(".alert-title")).to_have_text("Fever")  # summaries per language
    await expect(spo2.locator(".trigger time")).to_have_text("measured today 08:58")


async def test_a_live_refresh_keeps_the_note_being_typed(served: Served) -> None:
    """The board re-renders its list on every live event (and when the status banner changes):
    a note half-typed into a card, and the cursor in it, survive that refresh, so an
    acknowledgement never goes out without the note the nurse wrote."""
    page = await served.page("sara")
    fever = page.locator('[data-rule="fever"]')
    note = fever.get_by_label("Note")
    await note.click()
    await page.keyboard.type("Ringer til")
    await page.evaluate(
        "document.querySelector('#board-list [data-alert-id]').dataset.stale = '1';"
        "document.getElementById('board').dispatchEvent(new CustomEvent('hjem:refresh'));"
    )
    await expect(page.locator("#board-list [data-stale]")).to_have_count(0)  # re-rendered
    await expect(note).to_have_value("Ringer til")
    await expect(note).to_be_focused()
    await page.keyboard.type(" Anna nu")
    await expect(note).to_have_value("Ringer til Anna nu")
    await fever.get_by_role("button", name="Kvittér").click()
    await expect(fever.locator(".ack-note")).to_have_text("Ringer til Anna nu", timeout=10_000)


async def test_danish_pages_have_no_raw_keys_or_english_notes(served: Served) -> None:
    world = served.world
    world.clock.advance(minutes=11)  # past the first deadline: the engine escalates
    escalated = world.alerts.engine.tick()
    assert any(e.note and "escalated to" in e.note for e in escalated)  # stored in English
    page = await served.page("sara")
    news2 = page.locator('[data-rule="news2"]')
    await expect(news2.locator(".alert-title")).to_have_text(
        re.compile(r"^NEWS2 \(målinger i hjemmet\) 6: .*iltmætning \(skala 1\) 3")
    )
    spo2_id = next(e.alert_id for e in escalated if e.rule == "spo2-low")
    pages = ["/board", f"/alerts/{spo2_id}", "/audit", "/residents", "/residents/r-anna"]
    for path in pages:
        await page.goto(served.url + path)
        text = await visible_text(page)
        assert SNAKE.findall(text) == [], path
        assert [w for w in ENGLISH if w in text.lower()] == [], path
    await page.goto(f"{served.url}/alerts/{spo2_id}")
    await expect(page.get_by_text("ikke kvitteret i tide; eskaleret til team:lead")).to_be_visible()


async def test_out_of_range_values_and_every_glucose_type(served: Served) -> None:
    page = await served.page("sara")
    await page.goto(f"{served.url}/residents")
    row = page.locator("tr", has=page.get_by_role("link", name="Anna Jensen"))
    highlighted = row.locator(".vital-value.out-of-range")
    await expect(highlighted).to_have_count(3)  # SpO2 88 < 92, 39.4 > 38.5, CGM 3.6 < 4
    await expect(highlighted.filter(has_text="88")).to_have_class(re.compile("sev-critical"))
    await expect(row.locator(".vital-value", has_text="6,1")).not_to_have_class(
        re.compile("out-of-range")
    )

    await page.get_by_role("link", name="Anna Jensen").click()
    tile = page.locator('.tile[data-vital="spo2"]')
    await expect(tile).to_have_class(re.compile("out-of-range"))
    await expect(tile.locator(".limit")).to_have_text("uden for alarmgrænsen (< 92)")
    color = await tile.locator(".value").evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(164, 35, 27)"  # --bad-text
    await expect(
        page.locator('.tile[data-vital="glucose_capillary_whole_blood"]')
    ).not_to_have_class(re.compile("out-of-range"))
    for label in (
        "Blodsukker, kapillærblod",
        "Blodsukker, kapillærplasma",
        "Blodsukker, venøs plasma",
        "Glukose, vævsvæske (CGM)",
    ):
        await expect(page.locator(".tile .label", has_text=label)).to_have_count(1)
        await expect(page.locator(f'svg[aria-label="{label}"]')).to_have_count(1)
    cgm = page.locator('.tile[data-vital="glucose_interstitial"]')
    await expect(cgm).to_have_class(re.compile("out-of-range sev-medium"))


async def test_sound_toggle_says_its_state_and_repeats_until_acknowledged(served: Served) -> None:
    page = await served.page("sara")
    await page.clock.install()
    await page.reload()
    await page.wait_for_load_state("load")
    toggle = page.locator("#mute-toggle")
    await expect(toggle).to_have_text("Lyd til")
    body = page.locator("body")
    await expect(body).to_have_attribute("data-cue-severity", "critical")  # most severe waiting
    await expect(body).to_have_attribute("data-cue-count", "1")
    await page.clock.run_for(10_500)
    await expect(body).to_have_attribute("data-cue-count", "2")  # critical: every 10 s

    await toggle.click()
    await expect(toggle).to_have_text("Lyd fra")
    await expect(toggle).to_have_attribute("data-sound", "off")
    await page.reload()
    await expect(page.locator("#mute-toggle")).to_have_text("Lyd fra")  # remembered
    await page.locator("#mute-toggle").click()
    await expect(page.locator("#mute-toggle")).to_have_text("Lyd til")

    waiting = page.locator('[data-alert-id][data-state="active_unack"]')
    await expect(waiting).to_have_count(4)
    for left in (3, 2, 1, 0):  # acknowledge everything that waits, then the sound stops
        await waiting.first.get_by_role("button", name="Kvittér").click()
        await expect(waiting).to_have_count(left, timeout=10_000)
    count = await body.get_attribute("data-cue-count")
    await page.clock.run_for(120_000)
    assert await body.get_attribute("data-cue-count") == count

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#mute-toggle")).to_have_text("Sound on")


async def test_first_alert_visible_on_a_phone_without_scrolling(
    served: Served, artifacts_dir: Path
) -> None:
    page = await served.page("sara", viewport={"width": 390, "height": 844})
    first = page.locator("[data-alert-id]").first
    await expect(first).to_be_visible()
    await page.screenshot(path=str(artifacts_dir / "dashboard-board-phone.png"))
    assert await page.evaluate("window.scrollY") == 0
    for part in (".alert-title", ".trigger", ".escalation"):
        box = await first.locator(part).bounding_box()
        assert box is not None, part
        assert box["y"] >= 0, part
        assert box["y"] + box["height"] <= 844, f"{part} ends at {box['y'] + box['height']}"
    button = await first.get_by_role("button", name="Kvittér").bounding_box()
    assert button is not None
    assert button["y"] + button["height"] <= 844
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
