"""The composition root (issue 16): constructing a hub does no I/O, every component comes
from :func:`hub.compose.open_services`, staff sign-in does not depend on alerts, and a hub
left by an exception closes its listening socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hub.alerts.settings import AlertSettings
from hub.app import create_app
from hub.auth import Role
from hub.auth.web import find_authenticator
from hub.config import HttpSettings, HubSettings
from hub.service import Hub, HubNotOpenError

PASSWORD = "korrekt-hest-batteri-klips-42"


def _settings(tmp_path: Path) -> HubSettings:
    return HubSettings(
        database=tmp_path / "data" / "hub.sqlite3",
        http=HttpSettings(enabled=False),
        alerts=AlertSettings(enabled=False, mqtt=False),  # the service runs, with no rules
    )


def test_constructing_a_hub_does_no_io(tmp_path: Path) -> None:
    hub = Hub(_settings(tmp_path), mqtt=False)
    assert not (tmp_path / "data").exists()  # no database opened, no directory made
    with pytest.raises(HubNotOpenError, match="the hub is not open"):
        _ = hub.registry
    services = hub.open()
    try:
        assert (tmp_path / "data" / "hub.sqlite3").is_file()
        assert hub.registry is services.registry
        assert hub.open() is services  # opened once
    finally:
        hub.close()
    with pytest.raises(HubNotOpenError):
        _ = hub.store


def test_a_wrong_database_path_fails_on_open_not_on_construction(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the directory should be")
    hub = Hub(_settings(tmp_path), mqtt=False)
    with pytest.raises(Exception, match=r"hub\.sqlite3"):
        hub.open()
    with pytest.raises(HubNotOpenError):
        _ = hub.conn


@pytest.mark.parametrize("alerts", [True, False])
def test_sign_in_works_with_and_without_alerts(tmp_path: Path, alerts: bool) -> None:
    hub = Hub(_settings(tmp_path), mqtt=False, alerts=alerts)
    hub.open()
    try:
        assert (hub.alerts is not None) is alerts
        auth = find_authenticator(create_app(hub))  # how the dashboard finds it
        assert auth is hub.auth
        made = auth.users.create_user("mette", PASSWORD, Role.ADMIN, None)
        user, session = auth.sign_in("mette", PASSWORD, "127.0.0.1")
        assert user.id == made.id
        assert auth.authenticate(None, session).username == "mette"
    finally:
        hub.close()


@pytest.mark.asyncio
async def test_a_hub_left_by_an_exception_closes_its_http_socket(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"http": HttpSettings(port=0)})
    hub = Hub(settings, mqtt=False)
    ports: list[int | None] = []

    async def fail_inside() -> None:
        async with hub:
            ports.append(hub.http_port)
            raise RuntimeError("the body failed")  # the TaskGroup cancels the API's task

    with pytest.raises(ExceptionGroup) as caught:
        await fail_inside()
    assert caught.group_contains(RuntimeError, match="the body failed")
    [port] = ports
    assert port is not None
    with socket.socket() as probe:  # free again: the listening socket was closed, not leaked
        probe.bind(("127.0.0.1", port))
