"""`hjem admin ...` end to end: the real password file of a running broker, a real hub database."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foundation.clock import utcnow
from hjem.cli import main
from hub.admin.provision import SHIPPED_ACL, broker_users
from hub.auth.users import UserStore
from hub.registry.core import Registry
from tests.support.deploy import ConnectResult, SecureBroker, connect, start_secure_broker
from tests.support.hub_db import HubDatabases

pytestmark = pytest.mark.mosquitto


@pytest.fixture(scope="module")
def admin_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("admin-broker"), {"hub": "hub-pw-123"})
    try:
        yield running
    finally:
        running.broker.stop()


@pytest.fixture
def hub_toml(hub_dbs: HubDatabases) -> Path:
    """The hub's settings on either engine (every test that has it runs on both)."""
    return hub_dbs.write_toml()


def admin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["admin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def broker_args(broker: SecureBroker) -> list[str]:
    return [
        "--password-file",
        str(broker.layout.password_file),
        "--broker-pid-file",
        str(broker.layout.pid_file),
        "--reload",
    ]


def printed(out: str, label: str) -> str:
    match = re.search(rf"^{label}: (\S+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


def connect_after_reload(port: int, username: str, password: str) -> ConnectResult:
    """The broker re-reads its password file on SIGHUP asynchronously: poll for a while."""
    deadline = time.monotonic() + 5.0
    while True:
        result = connect(port, f"{username}-probe", username=username, password=password)
        if result.client is not None or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_add_gateway_writes_broker_and_registry(
    admin_broker: SecureBroker,
    hub_toml: Path,
    hub_dbs: HubDatabases,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = admin(
        capsys,
        "add-gateway",
        "gw-new",
        "--home",
        "h-1",
        "--config",
        str(hub_toml),
        *broker_args(admin_broker),
    )
    assert code == 0
    password = printed(out, "MQTT password")
    assert "gw-new" in broker_users(admin_broker.layout.password_file)
    assert password not in admin_broker.layout.password_file.read_text()
    result = connect_after_reload(admin_broker.plain_port, "gw-new", password)
    assert result.client is not None, result.reason
    result.client.close()

    registry = Registry(hub_dbs.open())
    publisher = registry.publisher("gw-new")
    assert publisher is not None
    assert (publisher.kind, publisher.home_id) == ("gateway", "h-1")

    # adding it again rotates the password: the old one stops working
    code, out, _ = admin(
        capsys, "add-gateway", "gw-new", "--config", str(hub_toml), *broker_args(admin_broker)
    )
    assert code == 0
    assert "already registered" in out
    new_password = printed(out, "MQTT password")
    assert new_password != password
    result = connect_after_reload(admin_broker.plain_port, "gw-new", new_password)
    assert result.client is not None, result.reason
    result.client.close()
    assert (
        connect(admin_broker.plain_port, "old", username="gw-new", password=password).client is None
    )


def test_add_vendor_gets_token_and_broker_password(
    admin_broker: SecureBroker,
    hub_toml: Path,
    hub_dbs: HubDatabases,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = admin(
        capsys, "add-vendor", "acme-cloud", "--config", str(hub_toml), *broker_args(admin_broker)
    )
    assert code == 0
    token = printed(out, "HTTP bearer token")
    registry = Registry(hub_dbs.open())
    assert registry.authenticate(token) == "acme-cloud"
    result = connect_after_reload(
        admin_broker.plain_port, "acme-cloud", printed(out, "MQTT password")
    )
    assert result.client is not None, result.reason
    result.client.close()
    # a gateway id cannot be re-registered as a vendor
    admin(capsys, "add-gateway", "gw-x", "--config", str(hub_toml), "--no-broker")
    code, _, err = admin(capsys, "add-vendor", "gw-x", "--config", str(hub_toml), "--no-broker")
    assert code == 2
    assert "already registered as a gateway" in err


def test_add_user_and_sign_in(
    hub_toml: Path, hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = admin(
        capsys, "add-user", "nurse.anna", "--organisation", "org-1", "--config", str(hub_toml)
    )
    assert code == 2
    assert "organisation 'org-1' does not exist" in err
    assert admin(capsys, "add-organisation", "org-1", "--config", str(hub_toml))[0] == 0
    code, out, _ = admin(
        capsys, "add-user", "nurse.anna", "--organisation", "org-1", "--config", str(hub_toml)
    )
    assert code == 0
    password = printed(out, "password")

    store = UserStore(hub_dbs.open(), utcnow)
    user = store.check_password("nurse.anna", password)
    assert user is not None
    assert (user.role.value, user.organisation) == ("care_staff", "org-1")
    code, _, err = admin(
        capsys, "add-user", "nurse.anna", "--organisation", "org-1", "--config", str(hub_toml)
    )
    assert code == 2
    assert "already exists" in err
    code, _, err = admin(capsys, "add-user", "someone", "--config", str(hub_toml))
    assert code == 2
    assert "--organisation" in err


def test_assign_device(
    hub_toml: Path, hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = admin(
        capsys,
        "assign-device",
        "AA:BB:CC:DD:EE:FF",
        "--new-resident",
        "I",
        "--config",
        str(hub_toml),
    )
    assert code == 2
    assert "'ble-aabbccddeeff' has never been reported" in err
    assert "--force" in err
    code, out, _ = admin(
        capsys,
        "assign-device",
        "ble:AA:BB:CC:DD:EE:FF",
        "--force",
        "--new-resident",
        "Ingrid",
        "--start",
        "2026-01-01T00:00:00+00:00",
        "--config",
        str(hub_toml),
    )
    assert code == 0
    resident = re.search(r"resident (r-[0-9a-f]{16}) added", out)
    assert resident
    registry = Registry(hub_dbs.open())
    at = datetime(2026, 2, 1, tzinfo=UTC)
    assert registry.resolve("ble-aabbccddeeff", at) == resident.group(1)

    code, out, _ = admin(capsys, "list", "--config", str(hub_toml), "--no-broker")
    assert code == 0
    assert re.search(rf"^{resident.group(1)}\s+-$", out, re.MULTILINE), out  # no home
    assert re.search(rf"^ble-aabbccddeeff\s+{resident.group(1)}\s+-\s", out, re.MULTILINE), out

    code, _, err = admin(
        capsys,
        "assign-device",
        "d1",
        "--force",
        "--resident",
        "r-nobody",
        "--config",
        str(hub_toml),
    )
    assert (code, "unknown resident" in err) == (2, True)
    code, _, err = admin(
        capsys,
        "assign-device",
        "d1",
        "--force",
        "--resident",
        resident.group(1),
        "--start",
        "2026-01-01T00:00",
        "--config",
        str(hub_toml),
    )
    assert (code, "UTC offset" in err) == (2, True)


def test_bad_ids_and_missing_config_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = admin(
        capsys, "add-gateway", "Bad/Id", "--no-registry", "--password-file", str(tmp_path / "p")
    )
    assert code == 2
    assert "publisher id 'Bad/Id'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
    code, _, err = admin(
        capsys, "add-gateway", "hub", "--no-registry", "--password-file", str(tmp_path / "p")
    )
    assert code == 2
    code, _, err = admin(capsys, "add-gateway", "gw-1", "--password-file", str(tmp_path / "p"))
    assert (code, "--config" in err) == (2, True)
    (tmp_path / "bad.toml").write_text("[mqtt]\nurl = 'http://x'\n")
    code, _, err = admin(capsys, "list", "--config", str(tmp_path / "bad.toml"), "--no-broker")
    assert code == 2
    assert "mqtt" in err


def test_render_acl_prints_the_shipped_acl(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = admin(capsys, "render-acl")
    assert code == 0
    assert out == SHIPPED_ACL.read_text(encoding="utf-8")


def test_broker_password_for_the_hub_user(
    admin_broker: SecureBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = admin(capsys, "broker-password", "hub", *broker_args(admin_broker))
    assert code == 0
    result = connect_after_reload(admin_broker.plain_port, "hub", printed(out, "MQTT password"))
    assert result.client is not None, result.reason
    # the hub user reads every publisher's observations
    assert [rc.value for rc in result.client.subscribe("hjem/v1/+/obs")] == [1]
    # the hub's alert publisher has a login of its own (the broker binds client ids to
    # logins), with the same password, running at the same time
    password = printed(out, "MQTT password")
    alerts = connect_after_reload(admin_broker.plain_port, "hub-alerts", password)
    assert alerts.client is not None, alerts.reason
    assert not result.client.disconnected.wait(0.3)
    alerts.client.close()
    result.client.close()
    code, _, err = admin(capsys, "broker-password", "Not Valid", *broker_args(admin_broker))
    assert code == 2
    assert "Not Valid" in err


def test_list_flags_broker_users_missing_from_the_registry(
    tmp_path: Path, hub_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd = tmp_path / "hjem.passwd"
    admin(
        capsys, "add-gateway", "gw-known", "--config", str(hub_toml), "--password-file", str(passwd)
    )
    admin(capsys, "add-gateway", "gw-stray", "--no-registry", "--password-file", str(passwd))
    admin(capsys, "broker-password", "hub", "--password-file", str(passwd))
    code, out, _ = admin(capsys, "list", "--config", str(hub_toml), "--password-file", str(passwd))
    assert code == 0
    broker_lines = out.split("BROKER LOGINS (4)\n")[1].splitlines()
    assert broker_lines == [
        "USERNAME    KIND",
        "gw-known    gateway",
        "gw-stray    NOT IN REGISTRY",
        "hub         hub",
        "hub-alerts  hub",
    ]


def test_organisation_team_and_a_home_in_the_team(
    tmp_path: Path, hub_toml: Path, hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(hub_toml)]
    assert admin(capsys, "add-organisation", "org-aarhus", "--name", "Aarhus", *cfg)[0] == 0
    assert admin(capsys, "add-team", "team-nord", "--organisation", "org-aarhus", *cfg)[0] == 0
    code, out, _ = admin(
        capsys,
        "add-gateway",
        "gw-nord-1",
        "--home",
        "home-1",
        "--team",
        "team-nord",
        *cfg,
        "--no-broker",
    )
    assert code == 0
    assert "home home-1 added (team team-nord)" in out
    registry = Registry(hub_dbs.open())
    assert [(h.id, h.team_id) for h in registry.homes()] == [("home-1", "team-nord")]
    # a team of an unknown organisation, a home of an unknown team: one-line errors
    code, _, err = admin(capsys, "add-team", "team-x", "--organisation", "org-none", *cfg)
    assert code == 2
    assert "team 'team-x'" in err
    code, _, err = admin(
        capsys,
        "add-gateway",
        "gw-x",
        "--home",
        "home-x",
        "--team",
        "team-none",
        *cfg,
        "--no-broker",
    )
    assert code == 2
    assert "home 'home-x'" in err
    assert registry.publisher("gw-x") is None


def test_bind_device_to_a_vendor(
    hub_toml: Path, hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = admin(
        capsys, "bind-device", "cuff-1", "--publisher", "vendor-q", "--config", str(hub_toml)
    )
    assert code == 2
    assert "unknown publisher 'vendor-q'" in err
    Registry(hub_dbs.open()).add_publisher("vendor-q", "vendor")
    code, out, _ = admin(
        capsys,
        "bind-device",
        "cuff-1",
        "--publisher",
        "vendor-q",
        "--start",
        "2026-01-01T00:00:00+00:00",
        "--config",
        str(hub_toml),
    )
    assert code == 0, out
    assert "device cuff-1 bound to publisher vendor-q from 2026-01-01T00:00:00+00:00" in out
    code, out, _ = admin(capsys, "list", "--config", str(hub_toml), "--no-broker")
    assert re.search(r"^cuff-1\s+-\s+vendor-q\s", out, re.MULTILINE), out
