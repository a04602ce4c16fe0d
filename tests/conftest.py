"""Shared fixtures. Servers listen on 127.0.0.1 with free ports and are stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh real Mosquitto on a free loopback port (anonymous, persistence on)."""
    with Mosquitto(workdir=tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


from tests.support.hub_db import hub_db, hub_dbs  # noqa: E402, F401 - fixtures
from tests.support.postgres import (  # noqa: E402, F401 - fixtures
    own_postgres,
    postgres_cluster,
    postgres_dsn,
)
