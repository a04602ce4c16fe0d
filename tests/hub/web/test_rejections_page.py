"""The administrators' list of refused messages (/admin/rejections): each with its reasons,
only of the administrator's own organisation's publishers; a system administrator sees all."""

from __future__ import annotations

import re

import pytest

from hub.auth import Role
from hub.ingest.commit import Inbound
from hub.registry.figures import publishers_of
from tests.hub.web.conftest import SignedIn, new_client, sign_in
from tests.support.browser import FastWorld

ROOT_PASSWORD = "Tordenvejr-over-Limfjorden-1987!"


def _refuse(world: FastWorld) -> None:
    now = world.clock.now()
    world.hub.ingestor.process(
        [
            Inbound(topic="hjem/v1/gw-a/obs", payload=b"{not json from a", received=now),
            Inbound(topic="hjem/v1/gw-b/obs", payload=b"{not json from b", received=now),
            Inbound(topic="hjem/v1/gw-zz/obs", payload=b"[1]", received=now),
        ]
    )


def _rows(html: str) -> list[tuple[str, str]]:
    found = re.findall(r'<tr data-reason="([a-z_]+)">\s*<td>[^<]*</td>\s*<td>([^<]*)</td>', html)
    return [(str(reason), str(publisher)) for reason, publisher in found]


@pytest.mark.asyncio
async def test_admin_sees_own_organisations_rejections_with_reasons(
    world: FastWorld, signed_in: SignedIn
) -> None:
    _refuse(world)
    assert publishers_of(world.hub.conn, frozenset({"org-a"})) == ["gw-a"]
    client, _ = await signed_in("ida")
    page = await client.get("/admin/rejections")
    assert page.status_code == 200
    assert _rows(page.text) == [("malformed", "gw-a")]
    assert "not valid JSON" in page.text
    assert "Ikke en gyldig JSON-besked" in page.text  # the reason class, in Danish
    other = await client.get("/admin/rejections", params={"publisher": "gw-b"})
    assert other.status_code == 200
    assert _rows(other.text) == []
    assert "from b" not in other.text
    admin = await client.get("/admin")
    assert 'href="/admin/rejections"' in admin.text


@pytest.mark.asyncio
async def test_care_staff_may_not_and_system_admin_sees_all(
    world: FastWorld, signed_in: SignedIn
) -> None:
    _refuse(world)
    staff, _ = await signed_in("sara")
    assert (await staff.get("/admin/rejections")).status_code == 403
    world.users.create_user("root", ROOT_PASSWORD, Role.ADMIN, None)
    async with new_client(world) as root:
        await sign_in(root, "root", ROOT_PASSWORD)
        page = await root.get("/admin/rejections")
        assert page.status_code == 200
        assert sorted(_rows(page.text)) == [
            ("malformed", "gw-a"),
            ("malformed", "gw-b"),
            ("malformed", "gw-zz"),
        ]
        only = await root.get("/admin/rejections", params={"publisher": "gw-zz"})
        assert _rows(only.text) == [("malformed", "gw-zz")]
