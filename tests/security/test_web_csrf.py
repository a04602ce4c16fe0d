"""Finding 3 (issue 15): CSRF bypass by a malformed cookie, and tokens anyone could compute.

The CSRF check used to parse cookies with ``http.cookies.SimpleCookie``, which drops the whole
header when one cookie is malformed, and then let the request through, while authentication
(Starlette's parser) still found ``hjem_session``; tokens were ``HMAC(cookie, constant)``.
Reproduced against a real hub (uvicorn) over HTTP and from a page on another port of
127.0.0.1 in Chromium (cookies ignore ports, so that page can plant cookies for the hub).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from tests.security.web_hub import running_hub, session_of, sign_in, url_of
from tests.support.browser import CHROMIUM_ARGS, PASSWORD

pytestmark = pytest.mark.asyncio

NEW_ADMIN = {"username": "mallory", "password": "Vindmølle-Fyrtårn-93-Kaffekop", "role": "admin"}


def _user_exists(hub: object, username: str) -> bool:
    conn = hub.conn  # type: ignore[attr-defined]
    row = conn.execute("SELECT 1 FROM auth_user WHERE username = ?", (username,)).fetchone()
    return row is not None


@pytest.mark.parametrize(
    "cookie", ["y; hjem_session={s}", "hjem_session={s}; y", 'a b=c; hjem_session={s}; x="']
)
async def test_malformed_cookie_does_not_skip_the_csrf_check(tmp_path: Path, cookie: str) -> None:
    async with running_hub(tmp_path) as hub:
        async with httpx.AsyncClient(base_url=url_of(hub)) as ida:
            session = session_of(await sign_in(ida, "ida"))
        async with httpx.AsyncClient(base_url=url_of(hub)) as forged:
            reply = await forged.post(
                "/admin/users", data=NEW_ADMIN, headers={"Cookie": cookie.format(s=session)}
            )
        assert reply.status_code == 403, reply.text
        assert not _user_exists(hub, "mallory")


async def test_a_planted_cookie_does_not_give_its_csrf_token(tmp_path: Path) -> None:
    """Whoever can plant ``hjem_csrf`` cannot compute the token that goes with it."""
    planted = "planted-by-a-sibling-port"
    guessed = hmac.new(planted.encode(), b"hjem-csrf-v1", hashlib.sha256).hexdigest()
    async with running_hub(tmp_path) as hub, httpx.AsyncClient(base_url=url_of(hub)) as client:
        reply = await client.post(
            "/sign-in",
            data={"username": "ida", "password": PASSWORD, "csrf_token": guessed},
            headers={"Cookie": f"hjem_csrf={planted}"},
        )
        assert reply.status_code == 403, reply.text
        assert "set-cookie" not in reply.headers


def _attacker_page(hub_url: str) -> bytes:
    fields = "".join(f'<input name="{k}" value="{v}">' for k, v in NEW_ADMIN.items())
    return (
        f'<!doctype html><html><body><form id="f" method="post" action="{hub_url}/admin/users">'
        f"{fields}</form><script>"
        'document.cookie = "y; path=/"; document.getElementById("f").submit();'
        "</script></body></html>"
    ).encode()


@contextmanager
def attacker_site(hub_url: str) -> Iterator[str]:
    """A page on another port of 127.0.0.1 that plants a malformed cookie and posts a form."""
    body = _attacker_page(hub_url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.browser
async def test_cross_port_page_cannot_create_an_admin_in_chromium(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, async_playwright() as p:
        hub_url = url_of(hub)
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(locale="da-DK")).new_page()
            await page.goto(f"{hub_url}/sign-in")
            await page.get_by_label("Brugernavn").fill("ida")
            await page.get_by_label("Adgangskode").fill(PASSWORD)
            await page.get_by_role("button", name="Log ind").click()
            await expect(page).to_have_url(f"{hub_url}/board")
            with attacker_site(hub_url) as evil:
                async with page.expect_response(f"{hub_url}/admin/users") as answer:
                    await page.goto(evil)
                response = await answer.value
            sent = await response.request.all_headers()
        finally:
            await browser.close()
        cookies = [c.strip() for c in sent.get("cookie", "").split(";")]
        assert "y" in cookies  # the browser really sent the malformed cookie ...
        assert any(c.startswith("hjem_session=") for c in cookies)  # ... with the session
        assert response.status == 403
        assert not _user_exists(hub, "mallory")
