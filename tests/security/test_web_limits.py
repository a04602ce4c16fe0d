"""Findings 7 and 11 (issue 15): bodies read before authentication; caching and /docs.

7. Unauthenticated JSON bodies were read whole before authentication (two 100 MiB requests
   took the hub from 256 to 707 MiB): the hub must answer 401/413 before the body arrives.
11. ``/api/v1/*`` answered without ``Cache-Control: no-store``; ``/docs`` loaded script from
    a CDN on the dashboard's origin.

Against a real hub (uvicorn) over raw sockets, so we see when the hub answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from hub.auth import UserStore
from hub.service import Hub
from tests.security.web_hub import running_hub, session_of, sign_in, url_of

pytestmark = pytest.mark.asyncio

CHUNK = b"x" * 65536
TOTAL = 16 * 1024 * 1024  # what the client would send if nobody stopped it


async def _post_until_answered(
    port: int, path: str, headers: dict[str, str], *, declared: int | None = None
) -> tuple[int, int]:
    """POST a large body chunk by chunk until the hub answers; (status, bytes sent by then).

    ``declared`` sends ``Content-Length`` (and stops after the first chunk), else chunked.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = {"Content-Length": str(declared)} if declared else {"Transfer-Encoding": "chunked"}
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in {**framing, **headers}.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.ensure_future(reader.readline())
    sent = 0
    try:
        while not answer.done() and sent < TOTAL:
            writer.write(CHUNK if declared else b"%x\r\n%b\r\n" % (len(CHUNK), CHUNK))
            sent += len(CHUNK)
            drain = asyncio.ensure_future(writer.drain())
            await asyncio.wait({drain, answer}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if declared:  # one chunk, then wait: a server reading the whole body never answers
                break
        line = await asyncio.wait_for(answer, 10)
    except (ConnectionError, TimeoutError):
        line = b""
    finally:
        writer.close()
    status = int(line.split()[1]) if line.startswith(b"HTTP/1.1") else 0
    return status, sent


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts/silences", "/api/v1/alerts/a-1/ack", "/admin/users"]
)
async def test_unauthenticated_large_body_is_refused_before_it_is_read(
    tmp_path: Path, path: str
) -> None:
    async with running_hub(tmp_path) as hub:
        port = hub.http_port
        assert port is not None
        status, sent = await _post_until_answered(port, path, {})
        assert status in (401, 303, 413), status
        assert sent < TOTAL // 4, f"the hub read {sent} bytes before answering"
        huge = 100 * 1024 * 1024
        status, _ = await _post_until_answered(port, path, {}, declared=huge)
        assert status in (401, 303, 413), status


async def _bearer(hub: Hub) -> str:
    users = UserStore(hub.conn, hub.alerts.engine.clock)  # type: ignore[union-attr]
    ida = users.check_password("ida", "korrekt-hest-batteri")
    assert ida is not None
    return users.issue_token(ida.id, "limits test")


async def test_authenticated_body_is_bounded(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        port = hub.http_port
        assert port is not None
        headers = {"Authorization": f"Bearer {await _bearer(hub)}"}
        status, sent = await _post_until_answered(port, "/api/v1/alerts/silences", headers)
        assert status == 413
        assert sent < TOTAL // 4
        status, _ = await _post_until_answered(
            port, "/api/v1/alerts/silences", headers, declared=100 * 1024 * 1024
        )
        assert status == 413


async def test_api_answers_are_not_cached_and_docs_load_no_third_party_script(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path) as hub, httpx.AsyncClient(base_url=url_of(hub)) as client:
        refused = await client.get("/api/v1/residents")
        assert refused.status_code == 401
        assert refused.headers.get("cache-control") == "no-store"
        session_of(await sign_in(client, "sara"))
        for path in ("/api/v1/residents", "/api/v1/alerts", "/api/v1/homes", "/openapi.json"):
            reply = await client.get(path)
            assert reply.status_code == 200, path
            assert reply.headers.get("cache-control") == "no-store", path
            assert reply.headers.get("x-content-type-options") == "nosniff", path
        docs = await client.get("/docs")  # Swagger UI from the hub's own files (hub/web/docs.py)
        assert docs.status_code == 200
        assert "cdn.jsdelivr.net" not in docs.text
        assert "https://" not in docs.text
        assert (await client.get("/redoc")).status_code == 404
        for path in ("/board", "/sign-in", "/no-such-page", "/api/v1/residents", "/docs"):
            page = await client.get(path)
            policy = page.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in policy, path
            assert "unsafe" not in policy, path
            assert "script-src 'self'" in policy or "default-src 'none'" in policy, path
            assert page.headers.get("cache-control") == "no-store", path
