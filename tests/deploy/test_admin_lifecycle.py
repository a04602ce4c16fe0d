"""`hjem admin` lifecycle actions end to end: a real hub database, the real password file of a
running broker (shipped configuration), the hub's own ingest; each action's audit row."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.clock import utcnow
from hub.admin.audit import AdminAction, admin_actions
from hub.admin.provision import broker_users
from hub.auth.users import UserStore
from hub.ingest.commit import Ingestor
from hub.mqtt.inbound import Inbound
from hub.registry.core import Registry
from hub.registry.gateways import Gateways
from hub.store.ledger import Ledger
from schemas.builders import make_observation
from schemas.models import Batch, DeviceInfo, Source, encode
from tests.deploy.test_admin_cli import admin, broker_args, connect_after_reload, printed
from tests.support.deploy import SecureBroker, connect, start_secure_broker
from tests.support.hub_db import HubDatabases

NOW = datetime.now(UTC).replace(microsecond=0)
ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def hub_toml(hub_dbs: HubDatabases) -> Path:
    """The hub's settings on either engine (every test runs on SQLite and PostgreSQL)."""
    return hub_dbs.write_toml()


@pytest.fixture
def cfg(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Organisation org-a with team t-a and user anna; organisation org-b."""
    args = ["--config", str(hub_toml)]
    for command in (
        ["add-organisation", "org-a", "--name", "Kommune A"],
        ["add-organisation", "org-b"],
        ["add-team", "t-a", "--organisation", "org-a", "--name", "Team A"],
        ["add-user", "anna", "--organisation", "org-a", "--team", "t-a"],
    ):
        assert admin(capsys, *command, *args)[0] == 0
    return args


def _users(hub_dbs: HubDatabases) -> UserStore:
    return UserStore(hub_dbs.open(), utcnow)


def _last_audit(hub_dbs: HubDatabases, organisation: str) -> AdminAction:
    """The newest audit entry filed under ``organisation`` (which it must also be, overall)."""
    conn = hub_dbs.open()
    newest = admin_actions(conn, None, limit=1)[0]
    assert admin_actions(conn, frozenset({organisation}), limit=1)[0] == newest
    assert newest.actor == ACTOR
    return newest


def _anna_password(hub_toml: Path, capsys: pytest.CaptureFixture[str], cfg: list[str]) -> str:
    code, out, _ = admin(capsys, "reset-password", "anna", *cfg)
    assert code == 0
    return printed(out, "password")


def test_disable_and_enable_a_user(
    hub_toml: Path, hub_dbs: HubDatabases, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    password = _anna_password(hub_toml, capsys, cfg)
    users = _users(hub_dbs)
    user = users.check_password("anna", password)
    assert user is not None
    session = users.start_session(user.id, timedelta(hours=1))

    assert admin(capsys, "disable-user", "anna", *cfg)[0] == 0
    assert users.user_for_session(session) is None
    assert users.check_password("anna", password) is None
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("user_disabled", "anna")
    code, _, err = admin(capsys, "disable-user", "anna", *cfg)
    assert (code, "user 'anna' is disabled" in err) == (2, True)
    code, _, err = admin(capsys, "issue-token", "anna", "--name", "x", *cfg)
    assert (code, "user 'anna' is disabled" in err) == (2, True)

    assert admin(capsys, "enable-user", "anna", *cfg)[0] == 0
    assert users.check_password("anna", password) is not None
    assert users.user_for_session(session) is None  # an ended session stays ended
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("user_enabled", "anna")

    code, _, err = admin(capsys, "disable-user", "nobody", *cfg)
    assert (code, "no user 'nobody'" in err) == (2, True)
    code, _, err = admin(capsys, "disable-user", "anna", *cfg, "--no-registry")
    assert (code, "drop --no-registry" in err) == (2, True)
    assert users.check_password("anna", password) is not None


def test_reset_password_ends_sessions_and_prints_once(
    hub_toml: Path, hub_dbs: HubDatabases, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    old = _anna_password(hub_toml, capsys, cfg)
    users = _users(hub_dbs)
    user = users.check_password("anna", old)
    assert user is not None
    session = users.start_session(user.id, timedelta(hours=1))
    new = _anna_password(hub_toml, capsys, cfg)
    assert new != old
    assert users.check_password("anna", old) is None
    assert users.check_password("anna", new) is not None
    assert users.user_for_session(session) is None
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("password_reset", "anna")
    assert new not in json.dumps(entry.detail)


def test_issue_and_revoke_an_api_token(
    hub_toml: Path, hub_dbs: HubDatabases, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = admin(capsys, "issue-token", "anna", "--name", "ehr-sync", "--days", "3", *cfg)
    assert code == 0
    token = printed(out, "token")
    token_id = re.search(r", id ([0-9a-f]{64})$", out, re.MULTILINE)
    assert token_id, out
    users = _users(hub_dbs)
    assert users.user_for_token(token) is not None
    info = users.token_info(token_id.group(1))
    assert info is not None
    assert info.expires is not None
    assert (info.name, info.username) == ("ehr-sync", "anna")
    assert abs(info.expires - (info.created + timedelta(days=3))) < timedelta(seconds=1)
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("token_issued", "anna")
    assert entry.detail["token_id"] == token_id.group(1)
    assert token not in json.dumps(entry.detail)

    code, _, err = admin(capsys, "issue-token", "anna", "--name", "x", "--days", "0", *cfg)
    assert (code, "--days must be a positive" in err) == (2, True)
    assert admin(capsys, "add-user", "root", "--role", "admin", *cfg)[0] == 0
    code, _, err = admin(capsys, "revoke-token", "root", token_id.group(1), *cfg)
    assert (code, "user 'root' has no API token with id" in err) == (2, True)
    assert users.user_for_token(token) is not None

    assert admin(capsys, "revoke-token", "anna", token_id.group(1), *cfg)[0] == 0
    assert users.user_for_token(token) is None
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.detail["token_id"]) == ("token_revoked", token_id.group(1))
    code, _, err = admin(capsys, "revoke-token", "anna", token_id.group(1), *cfg)
    assert (code, "already revoked" in err) == (2, True)


def test_unassign_a_device(
    hub_toml: Path, hub_dbs: HubDatabases, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        admin(capsys, "add-gateway", "gw-a", "--home", "h-a", "--team", "t-a", *cfg, "--no-broker")[
            0
        ]
        == 0
    )
    code, out, _ = admin(
        capsys,
        "assign-device",
        "AA:BB:CC:00:00:01",
        "--force",
        "--new-resident",
        "Ingrid",
        "--home",
        "h-a",
        "--start",
        "2026-01-01T00:00:00+00:00",
        *cfg,
    )
    assert code == 0, out
    resident = re.search(r"resident (r-[0-9a-f]{16}) added", out)
    assert resident
    code, out, _ = admin(
        capsys, "unassign-device", "aa-bb-cc-00-00-01", "--at", "2026-02-01T00:00:00+00:00", *cfg
    )
    assert code == 0, out
    registry = Registry(hub_dbs.open())
    [assignment] = registry.assignments("ble-aabbcc000001")
    assert assignment.end == datetime(2026, 2, 1, tzinfo=UTC)
    assert registry.resolve("ble-aabbcc000001", datetime(2026, 1, 31, tzinfo=UTC)) is not None
    assert registry.resolve("ble-aabbcc000001", datetime(2026, 2, 2, tzinfo=UTC)) is None
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("device_unassigned", "ble-aabbcc000001")
    assert entry.detail["resident"] == resident.group(1)
    code, _, err = admin(capsys, "unassign-device", "ble-aabbcc000001", *cfg)
    assert (code, "has no open assignment" in err) == (2, True)


def _ingestor(hub_dbs: HubDatabases) -> Ingestor:
    """The running hub's ingest on the same database (its store as the hub picks it)."""
    conn = hub_dbs.open()
    return Ingestor(
        conn,
        registry=Registry(conn),
        store=hub_dbs.store(conn),
        ledger=Ledger(conn),
        gateways=Gateways(conn),
        clock=lambda: NOW,
    )


def _reading(publisher: str, device: str, effective: datetime, message_id: str) -> Inbound:
    source = Source(publisher=publisher, device=DeviceInfo(id=device))
    observation = make_observation("spo2", source=source, effective=effective, value="97")
    batch = Batch(message_id=message_id, publisher=publisher, sent=NOW, observations=[observation])
    return Inbound(f"hjem/v1/{publisher}/obs", encode(batch), NOW)


def test_list_has_headers_and_a_retired_gateways_readings_are_refused(
    hub_toml: Path, hub_dbs: HubDatabases, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        admin(
            capsys,
            "add-gateway",
            "gw-a",
            "--home",
            "h-a",
            "--home-label",
            "Strandvej 4",
            "--team",
            "t-a",
            *cfg,
            "--no-broker",
        )[0]
        == 0
    )
    ingestor = _ingestor(hub_dbs)  # the running hub's ingest, across the admin's actions
    seen = NOW - timedelta(minutes=5)
    [judged] = ingestor.process([_reading("gw-a", "ble-aabbcc000002", seen, "m-1")]).judgements
    assert judged.rejection is None
    assert len(judged.items) == 1

    code, out, _ = admin(capsys, "list", *cfg, "--no-broker")
    assert code == 0
    sections = {block.splitlines()[0]: block.splitlines()[1:] for block in out.split("\n\n")}
    assert sections["ORGANISATIONS (2)"] == ["ID     NAME", "org-a  Kommune A", "org-b  org-b"]
    assert sections["TEAMS (1)"] == ["ID   ORGANISATION  NAME", "t-a  org-a         Team A"]
    assert sections["USERS (1)"][0].split() == [
        "USERNAME",
        "ROLE",
        "ORGANISATION",
        "TEAMS",
        "ACTIVE",
    ]
    assert sections["USERS (1)"][1].split() == ["anna", "care_staff", "org-a", "t-a", "yes"]
    assert sections["PUBLISHERS (1)"][1].split() == [
        "gw-a",
        "gateway",
        "h-a",
        "Strandvej",
        "4",
        "no",
    ]
    assert sections["DEVICES (1)"][1].split() == [
        "ble-aabbcc000002",
        "-",
        "-",
        "gw-a",
        NOW.isoformat(),
        seen.isoformat(),
    ]

    assert admin(capsys, "retire-gateway", "gw-a", *cfg, "--no-broker")[0] == 0
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("gateway_retired", "gw-a")
    publisher = Registry(hub_dbs.open()).publisher("gw-a")
    assert publisher is not None
    assert publisher.retired is not None  # the row (and its history) stays
    for message, effective in (("m-2", NOW), ("m-old", seen - timedelta(minutes=1))):
        [judged] = ingestor.process(
            [_reading("gw-a", "ble-aabbcc000002", effective, message)]
        ).judgements
        assert judged.items == []
        assert judged.rejection is not None
        [error] = judged.rejection.errors
        assert "publisher 'gw-a' was retired at" in error.reason
    stored = hub_dbs.open().execute("SELECT COUNT(*) FROM observation").fetchone()
    assert stored == (1,)
    code, out, _ = admin(capsys, "list", *cfg, "--no-broker")
    assert re.search(r"^gw-a\s+gateway\s+h-a\s+Strandvej 4\s+\d{4}-", out, re.MULTILINE), out
    code, _, err = admin(capsys, "add-gateway", "gw-a", *cfg, "--no-broker")
    assert (code, "was retired at" in err) == (2, True)
    code, _, err = admin(capsys, "retire-gateway", "gw-a", *cfg, "--no-broker")
    assert (code, "was retired at" in err) == (2, True)


@pytest.fixture(scope="module")
def lifecycle_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("lifecycle"), {"hub": "hub-pw-123"})
    try:
        yield running
    finally:
        running.broker.stop()


@pytest.mark.mosquitto
def test_retire_gateway_removes_its_broker_login(
    lifecycle_broker: SecureBroker,
    hub_toml: Path,
    hub_dbs: HubDatabases,
    cfg: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = broker_args(lifecycle_broker)
    code, out, _ = admin(
        capsys, "add-gateway", "gw-old", "--home", "h-a", "--team", "t-a", *cfg, *broker
    )
    assert code == 0
    password = printed(out, "MQTT password")
    result = connect_after_reload(lifecycle_broker.plain_port, "gw-old", password)
    assert result.client is not None, result.reason
    result.client.close()

    code, out, _ = admin(capsys, "retire-gateway", "gw-old", *cfg, *broker)
    assert code == 0, out
    assert "broker login gw-old removed" in out
    assert "gw-old" not in broker_users(lifecycle_broker.layout.password_file)
    assert "hub" in broker_users(lifecycle_broker.layout.password_file)
    refused = None
    for _ in range(100):  # the broker re-reads its password file on SIGHUP asynchronously
        refused = connect(lifecycle_broker.plain_port, "old", username="gw-old", password=password)
        if refused.client is None:
            break
        refused.client.close()
    assert refused is not None
    assert refused.client is None
    entry = _last_audit(hub_dbs, "org-a")
    assert (entry.action, entry.target) == ("gateway_retired", "gw-old")
    code, _, err = admin(capsys, "retire-gateway", "gw-none", *cfg, *broker)
    assert (code, "no gateway 'gw-none'" in err) == (2, True)
