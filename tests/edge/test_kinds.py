"""One device-kind table (edge.kinds): every place that lists kinds has exactly its kinds.

Each consumer derives its kinds from the table, so adding a row is the one edit; these tests
fail if a consumer keeps (or grows) its own list that differs from the table.
"""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from edge.config import DeviceConfig
from edge.decoders import GATT_DECODERS
from edge.gatt import HEALTH_CHARACTERISTICS
from edge.kinds import BY_NAME, GATT_KINDS, KINDS
from hjem import demo_history
from hjem.demo_home import HOMES, _description
from sim.health import GattDevice
from tests.support.edge import ALL_KINDS

NAMES = {kind.name for kind in KINDS}
HEALTH = {kind.name for kind in KINDS if kind.connects}


def test_the_table_names_each_kind_once_and_health_kinds_fully() -> None:
    assert len(NAMES) == len(KINDS) == len(BY_NAME)
    for kind in KINDS:
        assert (kind.service is None) == (kind.measurement is None), kind.name
        assert (kind.title_da != "") == kind.connects, kind.name


def test_the_gateway_config_accepts_exactly_the_table_kinds() -> None:
    assert set(get_args(DeviceConfig.model_fields["kind"].annotation)) == NAMES
    for name in NAMES:
        device = DeviceConfig(address="C0:00:00:00:00:01", kind=name)
        assert device.wants_connection == BY_NAME[name].connects
    with pytest.raises(ValidationError, match="'bthome', 'ruuvi'"):
        DeviceConfig(address="C0:00:00:00:00:01", kind="toaster")


def test_gatt_handling_connects_to_and_subscribes_the_table_health_kinds() -> None:
    assert GATT_KINDS == HEALTH
    values = {c for k in KINDS if k.measurement for c in (k.measurement, *k.also)}
    assert set(HEALTH_CHARACTERISTICS) == values | {0x2A19}
    assert values <= set(GATT_DECODERS)  # each has a decoder


def test_the_simulator_serves_the_table_health_kinds() -> None:
    assert set(GattDevice._SERVICES) == HEALTH
    for name, (service, characteristic, _) in GattDevice._SERVICES.items():
        assert (int(service, 16), int(characteristic, 16)) == (
            BY_NAME[name].service,
            BY_NAME[name].measurement,
        )


def test_the_demo_uses_every_table_kind_and_names_the_health_devices() -> None:
    assert {d.kind for home in HOMES for d in home.devices} == NAMES
    assert set(demo_history._CADENCE) == HEALTH
    assert set(demo_history._MINUTES) == HEALTH
    for name in HEALTH:
        assert _description(name, 0) == BY_NAME[name].title_da


def test_the_test_fleet_and_the_agent_benchmark_cover_every_kind() -> None:
    from bench.agent import _MIX

    assert set(ALL_KINDS) == NAMES
    assert set(_MIX) == NAMES
