"""A real Mosquitto running the shipped production configuration (loopback variant)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.deploy import SecureBroker, start_secure_broker

USERS = {
    "hub": "hub-secret-1",
    "gw-a": "gateway-a-secret",
    "gw-b": "gateway-b-secret",
    "vendor-x": "vendor-x-secret",
}


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    running = start_secure_broker(tmp_path_factory.mktemp("secure-broker"), USERS)
    try:
        yield running
    finally:
        running.broker.stop()
