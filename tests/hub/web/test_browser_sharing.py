"""Sharing in a real browser (headless Debian Chromium via Playwright) against the dashboard
served by uvicorn on a free loopback port, over a real hub database whose clock stands still
(the care tests' world: :mod:`tests.hub.web.test_browser_care`).

Sara (care staff, org-a) records a consent for Anna to the hospital in the form, sees it
listed, and a hospital client (SMART Backend Services, RS384 assertion) fetches Anna's
observations over /fhir; the access log page then shows that request (client, organisation,
resident, query, resources returned, status). After Sara revokes the consent, the next fetch
is refused and the log shows the refusal too. Bo (org-b) sees neither the consent nor the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from hub.fhir.clients import FhirClients
from hub.fhir.consent import Consents
from tests.hub.web.test_browser_care import Served
from tests.hub.web.test_browser_care import served as care_served  # noqa: F401 - fixture
from tests.support.browser import T0
from tests.support.fhir import Keys, assertion, make_keys

pytestmark = [pytest.mark.asyncio, pytest.mark.browser, pytest.mark.slow]
SCOPE = "system/Observation.rs"
ANNAS_READINGS = 7
"""What the care world stored for Anna (SpO2, pulse, temperature, four glucose types)."""


class Sharing:
    """The served dashboard and a hospital's FHIR client registered with the hub."""

    def __init__(self, served: Served, keys: Keys) -> None:
        self.served = served
        self.url = served.url
        self.keys = keys

    async def page(self, username: str) -> Page:
        page = await self.served.page(username)
        await page.goto(f"{self.url}/sharing")
        return page

    def _fetch(self) -> httpx.Response:
        token_url = f"{self.url}/fhir/auth/token"
        signed = assertion(self.keys, "hospital-app", token_url, exp=int(T0.timestamp()) + 240)
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
            "scope": SCOPE,
        }
        answer = httpx.post(token_url, data=form, timeout=30)
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return httpx.get(
            f"{self.url}/fhir/Observation",
            params={"patient": "r-anna", "_count": "10"},
            headers=bearer,
            timeout=30,
        )

    async def fetch(self) -> httpx.Response:
        """The hospital's token, then Anna's observations (a blocking client, off the loop)."""
        return await asyncio.to_thread(self._fetch)


@pytest_asyncio.fixture
async def served(care_served: Served) -> AsyncIterator[Sharing]:  # noqa: F811
    world = care_served.world
    world.hub.registry.add_organisation("hospital", "Aarhus Universitetshospital")
    keys = make_keys()
    FhirClients(world.hub.conn, world.clock.now).add(
        "hospital-app", "hospital", keys.jwks(), purpose="TREAT", actor="test"
    )
    yield Sharing(care_served, keys)


async def test_record_fetch_see_the_log_revoke(served: Sharing) -> None:
    page = await served.page("sara")
    await expect(page.get_by_role("link", name="Deling")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_text("Ingen samtykker registreret")).to_be_visible()
    await page.get_by_label("Borger").select_option(label="Anna Jensen")
    await page.get_by_label("Modtager (organisation)").select_option(
        label="Aarhus Universitetshospital"
    )
    await page.get_by_label("Formål").select_option(label="Behandling")
    await page.get_by_label("Fra").fill("2026-11-30T08:00")
    await page.get_by_role("button", name="Registrér samtykke").click()
    row = page.locator("#consents tbody tr")
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row).to_have_attribute("data-state", "active")
    await expect(row).to_contain_text("Anna Jensen")
    await expect(row).to_contain_text("Aarhus Universitetshospital")
    await expect(row).to_contain_text("Behandling")
    await expect(row).to_contain_text("Sara Nielsen")
    await expect(row.locator(".consent-state")).to_have_text("Gælder")

    fetched = await served.fetch()
    assert fetched.status_code == 200, fetched.text
    assert len(fetched.json()["entry"]) == ANNAS_READINGS

    await page.get_by_role("link", name="Se adgangsloggen").click()
    await expect(page).to_have_url(f"{served.url}/sharing/access-log")
    served_row = page.locator('#access-log tr[data-status="200"]')
    await expect(served_row.first).to_be_visible()
    search = served_row.filter(has_text="Observation")
    await expect(search).to_have_count(1)
    cells = search.locator("td")
    await expect(cells.nth(1)).to_have_text("hospital-app")
    await expect(cells.nth(2)).to_have_text("Aarhus Universitetshospital")
    await expect(cells.nth(3)).to_have_text("Anna Jensen")
    await expect(cells.nth(4)).to_contain_text("patient=r-anna")
    await expect(cells.nth(5)).to_have_text(str(ANNAS_READINGS))

    await page.get_by_role("link", name="Deling og samtykke").click()
    await page.get_by_role("button", name="Tilbagekald").click()
    await expect(row).to_have_attribute("data-state", "revoked", timeout=15_000)
    await expect(row.locator(".consent-state")).to_contain_text("Tilbagekaldt")
    await expect(page.get_by_role("button", name="Tilbagekald")).to_have_count(0)

    refused = await served.fetch()
    assert refused.status_code == 403
    await page.goto(f"{served.url}/sharing/access-log")
    await expect(page.locator('#access-log tr[data-status="403"]')).to_contain_text("Anna Jensen")

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Access log (FHIR)")).to_be_visible()
    await page.goto(f"{served.url}/sharing")
    await expect(row.locator(".consent-state")).to_contain_text("Revoked")


async def test_another_organisation_sees_neither_consent_nor_log(served: Sharing) -> None:
    world = served.served.world
    Consents(world.hub.conn, world.clock.now).add(
        "r-anna", "hospital", "TREAT", T0 - timedelta(days=1), None, actor="sara"
    )
    assert (await served.fetch()).status_code == 200
    page = await served.page("bo")
    await expect(page.get_by_text("Ingen samtykker registreret")).to_be_visible()
    await expect(page.locator("#c-res option")).to_have_text(["Bent Hansen"])
    await page.goto(f"{served.url}/sharing/access-log")
    await expect(page.get_by_text("Ingen forespørgsler endnu.")).to_be_visible()
