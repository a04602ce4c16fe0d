"""The API documentation works offline, and every problem ``type`` leads to a page of the hub.

A real Chromium loads ``/docs`` from the hub (uvicorn on a free loopback port, over a real hub
database) with every request to anything but 127.0.0.1 aborted: Swagger UI must show the API's
operations, and nothing may have tried to leave the machine. The problem types the hub can
emit are read from the source of the modules that answer with problem details (every
``problem(...)`` call's slug or title, with the titles table it draws from), and each must
resolve to a page the hub serves in Danish and English; real error answers' ``type`` URIs,
resolved against the request, must too.
"""

from __future__ import annotations

import ast
import html
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Route, async_playwright, expect

from hub.problems import PROBLEM_TYPES, problem_uri
from hub.web.i18n import translator
from tests.support.browser import CHROMIUM_ARGS, FastWorld
from tests.support.served import serving

pytestmark = [pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[3]
EMITTERS: dict[
    Path, Callable[[str], str]
] = {  # module -> how its problem() turns the argument into the slug
    ROOT / "hub/ingest/http.py": lambda text: text,
    ROOT / "hub/alerts/api.py": lambda text: text.lower().replace(" ", "-"),
}


@dataclass
class Served:
    url: str
    world: FastWorld
    left_the_machine: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    world = FastWorld(tmp_path)
    try:
        async with serving(world.app) as url:
            yield Served(url, world)
    finally:
        world.close()


@pytest.mark.browser
async def test_docs_show_the_operations_with_only_the_hub_reachable(served: Served) -> None:
    async def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            served.left_the_machine.append(route.request.url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            await context.route("**/*", only_loopback)
            page = await context.new_page()
            page.on("pageerror", lambda exc: served.errors.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: served.errors.append(msg.text) if msg.type == "error" else None,
            )
            await page.goto(f"{served.url}/docs")
            ingest = page.locator(".opblock-summary-path", has_text="/api/v1/observations")
            await expect(ingest.first).to_be_visible(timeout=30_000)
            alerts = page.locator(".opblock-summary-path", has_text="/api/v1/alerts")
            await expect(alerts.first).to_be_visible()
            operations = await page.locator(".opblock").count()
            await page.get_by_role("link", name="/openapi.json").first.click()
            await expect(page).to_have_url(f"{served.url}/openapi.json")
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        spec = (await client.get("/openapi.json")).json()
    assert operations == sum(len(methods) for methods in spec["paths"].values())
    assert served.left_the_machine == []
    assert served.errors == []  # no script error, nothing refused by the page's CSP


def _titles_tables(tree: ast.Module) -> dict[str, list[str]]:
    """``name = {...: "text", ...}`` dictionaries of strings anywhere in the module."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            values = [v.value for v in node.value.values if isinstance(v, ast.Constant)]
            for target in node.targets:
                if isinstance(target, ast.Name) and all(isinstance(v, str) for v in values):
                    found[target.id] = [str(v) for v in values]
    return found


def emitted_slugs() -> set[str]:
    """Every slug a ``problem(status, <slug or title>, ...)`` call of the emitters can give."""
    slugs: set[str] = set()
    for path, to_slug in EMITTERS.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tables = _titles_tables(tree)
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "problem"
        ]
        assert calls, path
        for call in calls:
            texts: list[str] = []
            for node in ast.walk(call.args[1]):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    texts.append(node.value)
                if isinstance(node, ast.Name) and node.id in tables:
                    texts += tables[node.id]
            assert texts, f"{path.name}:{call.lineno}: a problem type not written in the source"
            slugs |= {to_slug(text) for text in texts}
    return slugs


async def test_every_problem_type_the_hub_emits_has_its_page(served: Served) -> None:
    slugs = emitted_slugs()
    assert slugs == set(PROBLEM_TYPES)  # every emitted type has a page, no page is unused
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        for slug in sorted(slugs):
            key = "problems." + slug.replace("-", "_") + "_title"
            for lang in ("da", "en"):
                answer = await client.get(problem_uri(slug), params={"lang": lang})
                assert answer.status_code == 200, slug
                assert f'<html lang="{lang}">' in answer.text
                assert translator(lang)(key) in html.unescape(answer.text), (slug, lang)
        index = await client.get("/problems")
        assert index.status_code == 200
        assert all(f'id="{slug}"' in index.text for slug in slugs)
        assert (await client.get("/problems/no-such-type")).status_code == 404
    with pytest.raises(ValueError, match="has no page"):
        problem_uri("no-such-type")


async def test_real_error_answers_lead_to_their_pages(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        answers = {
            "unauthorized": await client.post("/api/v1/observations", content=b"{}"),
            "not-authenticated": await client.get("/api/v1/alerts"),
        }
        for slug, answer in answers.items():
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"] == f"/problems/{slug}"
            page = await client.get(urljoin(str(answer.url), answer.json()["type"]))
            assert page.status_code == 200
            title = translator("da")(f"problems.{slug.replace('-', '_')}_title")
            assert title in html.unescape(page.text)
