"""The shipped broker (certificate AND password on its TLS port) refuses a gateway: the
publisher names the cause and the setting to change, once per cause, while it keeps retrying."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import parse_config
from edge.mqtt_diagnose import CERT_REQUIRED
from edge.outbox import Outbox
from edge.publisher import Publisher
from tests.edge.test_publisher import status_of
from tests.support.deploy import SecureBroker, start_secure_broker
from tests.support.edge import wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

PASSWORD = "gateway-secret-1"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("refusal"), {"gw1": PASSWORD})
    try:
        yield running
    finally:
        running.broker.stop()


def mqtt_settings(broker: SecureBroker, *, cert: bool, password: str | None) -> dict[str, object]:
    certs = broker.certs
    settings: dict[str, object] = {
        "url": f"mqtts://127.0.0.1:{broker.tls_port}",
        "ca_file": str(certs / "ca.crt"),
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    }
    if cert:
        settings["cert_file"] = str(certs / "clients" / "gw1.crt")
        settings["key_file"] = str(certs / "clients" / "gw1.key")
    if password is not None:
        settings["password"] = password
    return settings


async def refused_lines(
    tmp_path: Path, mqtt: dict[str, object], caplog: pytest.LogCaptureFixture, retries: int = 4
) -> list[logging.LogRecord]:
    """Run a publisher until it has failed ``retries`` times; its hjem.edge.mqtt records."""
    config = parse_config(
        {"gateway_id": "gw1", "mqtt": mqtt, "outbox": {"path": str(tmp_path / "o.sqlite")}}
    )
    caplog.set_level(logging.DEBUG, logger="hjem.edge.mqtt")
    caplog.set_level(logging.DEBUG, logger="hjem.edge.paho")
    with Outbox(config.outbox.path, config.outbox.quota_bytes) as box:
        publisher = Publisher(config, box, status_of)
        task = asyncio.create_task(publisher.run())
        try:
            await wait_until(
                lambda: publisher.stats.connection_losses >= retries, 60, what="the retries"
            )
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert publisher.stats.connects == 0
    return [r for r in caplog.records if r.name.startswith("hjem.edge.")]


def errors_of(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.WARNING]


async def test_no_client_certificate_is_named_once(
    shipped: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = await refused_lines(
        tmp_path, mqtt_settings(shipped, cert=False, password=PASSWORD), caplog
    )
    loud = errors_of(records)
    assert len(loud) == 1, loud  # paho's own line for each retry is left out too
    assert CERT_REQUIRED in loud[0]
    assert "set [mqtt] cert_file and key_file" in loud[0]
    assert [r.levelname for r in records if r.levelno >= logging.WARNING] == ["ERROR"]
    quiet = [r for r in records if r.levelno == logging.DEBUG and CERT_REQUIRED in r.getMessage()]
    assert len(quiet) >= 3, "the later retries go on, at debug level"


@pytest.mark.parametrize(
    ("password", "named"),
    [
        (
            "not-the-password",
            (
                "the broker refused the login for user gw1: check [mqtt] username and the "
                "password in HJEM_EDGE_MQTT__PASSWORD"
            ),
        ),
        (
            None,
            (
                "the broker refused the login for user gw1: no password is set; "
                "set it in HJEM_EDGE_MQTT__PASSWORD"
            ),
        ),
    ],
    ids=["wrong", "missing"],
)
async def test_a_refused_login_names_the_password_setting_once(
    shipped: SecureBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    password: str | None,
    named: str,
) -> None:
    records = await refused_lines(
        tmp_path, mqtt_settings(shipped, cert=True, password=password), caplog
    )
    loud = errors_of(records)
    assert len(loud) == 1, loud
    assert named in loud[0]
    assert [r.levelname for r in records if r.levelno >= logging.WARNING] == ["ERROR"]
    quiet = [r for r in records if r.levelno == logging.DEBUG and named in r.getMessage()]
    assert len(quiet) >= 3, "the later retries go on, at debug level"
    assert "not-the-password" not in " ".join(r.getMessage() for r in records)


async def test_the_right_credentials_connect(shipped: SecureBroker, tmp_path: Path) -> None:
    config = parse_config(
        {
            "gateway_id": "gw1",
            "mqtt": mqtt_settings(shipped, cert=True, password=PASSWORD),
            "outbox": {"path": str(tmp_path / "o.sqlite")},
        }
    )
    with Outbox(config.outbox.path, config.outbox.quota_bytes) as box:
        publisher = Publisher(config, box, status_of)
        task = asyncio.create_task(publisher.run())
        try:
            await wait_until(publisher.connected.is_set, 60, what="a connection")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert publisher.stats.connection_losses == 0
