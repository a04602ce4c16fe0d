"""The pure half of hub.admin.provision: ACL and loopback rendering of the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.admin.provision import (
    SHIPPED_ACL,
    SHIPPED_CONF,
    LoopbackLayout,
    ProvisionError,
    TemplateError,
    add_broker_user,
    broker_users,
    check_username,
    remove_broker_user,
    render_acl,
    render_loopback,
)
from hub.config import HubSettings
from schemas.models import MAX_PAYLOAD_BYTES


def options(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split(None, 1)
        if words and not words[0].startswith("#"):
            found.setdefault(words[0], []).append(words[1] if len(words) > 1 else "")
    return found


def layout(tmp: Path) -> LoopbackLayout:
    return LoopbackLayout(
        plain_port=40001,
        tls_port=40002,
        password_file=tmp / "p",
        acl_file=tmp / "a",
        persistence_dir=tmp / "d",
        cafile=tmp / "ca.crt",
        certfile=tmp / "s.crt",
        keyfile=tmp / "s.key",
        run_as="nobody",
    )


def test_shipped_acl_is_the_rendered_acl() -> None:
    assert SHIPPED_ACL.read_text(encoding="utf-8") == render_acl()


def test_acl_confines_publishers_by_username_pattern() -> None:
    rules = options(render_acl())
    assert rules["pattern"] == [
        "write hjem/v1/%u/obs",
        "write hjem/v1/%u/status",
        "read hjem/v1/%u/errors",
    ]
    # the hub's login and its alert publisher's (client ids are bound to logins)
    assert rules["user"] == ["hub", "hub-alerts"]
    # nobody but the hub (and listed alert readers) may read alerts
    assert [t for t in rules["topic"] if "alerts" in t] == ["readwrite hjem/v1/hub/alerts/#"] * 2


def test_every_hub_login_gets_the_hubs_rights() -> None:
    one = options(render_acl())
    two = options(render_acl(["hub-a", "hub-b", "hub-a"]))
    assert two["user"] == ["hub-a", "hub-a-alerts", "hub-b", "hub-b-alerts"]
    assert two["topic"] == one["topic"] * 2
    for bad in (["gw-1"], ["hub-x-alerts"], ["hub-"], []):
        with pytest.raises(ProvisionError):
            render_acl(bad)


def test_alert_readers_get_alerts_and_nothing_else() -> None:
    text = render_acl(alert_readers=["nursecall", "nursecall"])
    tail = text.split("user nursecall\n", 1)[1]
    assert tail == "topic read hjem/v1/hub/alerts/#\n"
    with pytest.raises(ProvisionError, match="publisher id"):
        render_acl(alert_readers=["Bad Name"])


def test_shipped_conf_production_values() -> None:
    conf = options(SHIPPED_CONF.read_text(encoding="utf-8"))
    assert conf["allow_anonymous"] == ["false"]
    assert conf["message_size_limit"] == [str(MAX_PAYLOAD_BYTES)]
    assert conf["require_certificate"] == ["true"]
    assert conf["persistence"] == ["true"]
    assert conf["listener"] == ["1883 127.0.0.1", "8883"]
    # the sizing in the comments: 200 gateways, a batch per 10 s + a status per minute, 24 h
    design_load = 200 * (1 / 10 + 1 / 60) * 86_400
    assert int(conf["max_queued_messages"][0]) >= design_load
    # one full hub commit batch fits in the in-flight window
    hub = HubSettings()
    assert int(conf["max_inflight_messages"][0]) >= hub.ingest.max_batch_messages
    assert int(conf["max_inflight_messages"][0]) >= hub.mqtt.receive_maximum


def test_loopback_variant_changes_only_ports_paths_and_process(tmp_path: Path) -> None:
    shipped = SHIPPED_CONF.read_text(encoding="utf-8")
    rendered = render_loopback(shipped, layout(tmp_path))
    before, after = options(shipped), options(rendered)
    assert after["listener"] == ["40001 127.0.0.1", "40002 127.0.0.1"]
    assert after["password_file"] == [str(tmp_path / "p")]
    assert after["persistence_location"] == [f"{tmp_path / 'd'}/"]
    assert after["user"] == ["nobody"]
    assert "pid_file" not in after
    changed = {"listener", "password_file", "acl_file", "persistence_location", "user"}
    changed |= {"pid_file", "cafile", "certfile", "keyfile"}
    for option, values in before.items():
        if option not in changed:
            assert after[option] == values, option
    settings = [line for line in rendered.splitlines() if not line.startswith("#")]
    assert [line for line in settings if "/etc/" in line or "/var/" in line] == []


def test_loopback_rejects_an_unexpected_listener_or_system_path(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="line 2"):
        render_loopback("allow_anonymous false\nlistener 9001\n", layout(tmp_path))
    with pytest.raises(TemplateError, match="system path"):
        render_loopback("log_dest file /var/log/m.log\n", layout(tmp_path))
    with pytest.raises(TemplateError, match="expected 2 listeners"):
        render_loopback("listener 8883\n", layout(tmp_path))


def test_usernames_follow_the_topic_scheme() -> None:
    assert check_username("gw-01") == "gw-01"
    assert check_username("hub", allow_hub=True) == "hub"
    assert check_username("hub-node-2", allow_hub=True) == "hub-node-2"
    for bad in ("hub", "hub-2", "hub-alerts", "GW", "a/b", "+", "#", "", "x" * 65):
        with pytest.raises(ProvisionError):
            check_username(bad)


def test_new_password_file_is_not_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hjem.passwd"
    add_broker_user(path, "gw-1", "first-password")
    add_broker_user(path, "gw-2", "second-password")
    add_broker_user(path, "gw-1", "rotated-password")
    assert path.stat().st_mode & 0o777 == 0o640
    assert broker_users(path) == ["gw-1", "gw-2"]
    assert "password" not in path.read_text()
    assert remove_broker_user(path, "gw-1") is True
    assert remove_broker_user(path, "gw-1") is False
    assert broker_users(path) == ["gw-2"]
    with pytest.raises(ProvisionError, match="one non-empty line"):
        add_broker_user(path, "gw-3", "two\nlines")
    # a hub login brings the login of its alert publisher, with the same password
    add_broker_user(path, "hub-a", "hub-password")
    assert broker_users(path) == ["gw-2", "hub-a", "hub-a-alerts"]
    hashes = dict(line.split(":", 1) for line in path.read_text().splitlines())
    assert hashes["hub-a"] != hashes["hub-a-alerts"]  # salted, but one secret (checked live)
    assert remove_broker_user(path, "hub-a") is True
    assert broker_users(path) == ["gw-2"]
