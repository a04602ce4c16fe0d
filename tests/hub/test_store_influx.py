"""The InfluxDB store's write path against a real VictoriaMetrics (InfluxDB v2 write API).

What is tested here, and against what (also in docs/hub.md):

* influxdb-client writes (``/api/v2/write``, line protocol, nanosecond precision, batches)
  reach VictoriaMetrics: measurement, tags, the numeric ``value`` field, timestamps;
* deduplication by observation id (the SQLite ledger) and the roll-back when the server
  is unreachable (StoreError, nothing counted as stored);
* the hub end to end: MQTT -> validation -> InfluxStore -> VictoriaMetrics.

Not tested against a server: the Flux queries (``query``, ``rollup``, ``latest``); they
need InfluxDB 2.x, which VictoriaMetrics does not emulate (no Flux).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto, free_port
from hub.config import InfluxSettings, StoreSettings
from hub.db import open_db
from hub.errors import StoreError
from hub.service import Hub
from hub.store.base import StoredObservation
from hub.store.influx import InfluxStore, line_protocol
from schemas.builders import component, make_observation
from schemas.models import DeviceInfo, Source
from tests.hub.conftest import eventually
from tests.hub.helpers import Client, batch, settings_for
from tests.support.victoria import VictoriaMetrics

pytestmark = [pytest.mark.victoriametrics]

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _temp(device: str, second: int, value: str, resident: str | None) -> StoredObservation:
    src = Source(publisher="gw-1", device=DeviceInfo(id=device))
    obs = make_observation(
        "body_temperature", source=src, effective=T0 + timedelta(seconds=second), value=value
    )
    return StoredObservation(obs, "gw-1", resident, T0)


def _series(vm: VictoriaMetrics, code: str) -> dict[str, list[tuple[int, float]]]:
    vm.flush()
    out: dict[str, list[tuple[int, float]]] = {}
    for row in vm.export(f'hjem_obs_value{{code="{code}"}}'):
        key = row["metric"]["publisher"]
        out.setdefault(key, []).extend(zip(row["timestamps"], row["values"], strict=True))
    return {k: sorted(v) for k, v in out.items()}


def test_line_protocol_keeps_ids_in_fields_and_escapes() -> None:
    item = _temp("dev:1", 0, "36.6", 'r "1", x=y')
    [line] = line_protocol(item)
    head, fields, ns = line.split(" ", 2)[0], line.split(" ")[1:-1], line.split(" ")[-1]
    assert head == "hjem_obs,code=150364,publisher=gw-1,system=mdc"
    assert 'device="dev:1"' in " ".join(fields)
    assert 'resident="r \\"1\\", x=y"' in line
    assert "value=36.6" in " ".join(fields)
    assert int(ns) // 1000 == int((T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6


def test_writes_reach_victoriametrics_once(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    store = InfluxStore(
        open_db(tmp_path / "hub.sqlite3"),
        InfluxSettings(url=victoria.url, batch_size=7),
    )
    items = [_temp("dev-a", i, f"36.{i}", "r-1") for i in range(10)]
    items += [_temp("dev-b", 0, "38.5", None)]  # same code and second as dev-a's first
    cuff = Source(publisher="gw-1", device=DeviceInfo(id="cuff"))
    bp = make_observation(
        "blood_pressure",
        source=cuff,
        effective=T0,
        components=[
            component("blood_pressure_systolic", "141"),
            component("blood_pressure_diastolic", "92"),
        ],
    )
    items.append(StoredObservation(bp, "gw-1", "r-1", T0))
    assert store.write(items) == 12
    assert store.write(items[:5]) == 0  # redelivery: nothing written twice
    series = _series(victoria, "150364")
    points = series["gw-1"]
    assert len(points) == 11
    t0_ms = int(T0.timestamp() * 1000)
    assert sorted(v for t, v in points if t == t0_ms) == [36.0, 38.5]
    assert points[-1] == (t0_ms + 9000, 36.9)
    assert _series(victoria, "150021") == {"gw-1": [(t0_ms, 141.0)]}
    assert _series(victoria, "150022") == {"gw-1": [(t0_ms, 92.0)]}
    store.close()


def test_unreachable_server_rolls_back(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "hub.sqlite3")
    store = InfluxStore(conn, InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=2))
    with pytest.raises(StoreError, match="influxdb write"):
        store.write([_temp("dev-a", 0, "36.6", None)])
    assert conn.execute("SELECT COUNT(*) FROM influx_written_v3").fetchone()[0] == 0
    store.close()


def test_ids_written_before_the_upgrades_still_count_as_written(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "hub.sqlite3")
    settings = InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    InfluxStore(conn, settings).close()
    by_id, by_time = _temp("dev-a", 0, "36.6", None), _temp("dev-b", 1, "36.7", None)
    conn.execute("INSERT INTO influx_written (id) VALUES (?)", (by_id.id,))
    conn.execute(
        "INSERT INTO influx_written_v2 (effective_us, id) VALUES (?, ?)",
        (by_time.effective_us, by_time.id),
    )
    store = InfluxStore(conn, settings)  # a hub started on the upgraded database
    assert store.write_new([by_id, by_time]) == []  # nothing to post, so no server is needed
    assert conn.execute("SELECT COUNT(*) FROM influx_written_v3").fetchone()[0] == 0
    store.close()


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_hub_ingests_mqtt_into_victoriametrics(
    broker: Mosquitto, victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    settings = settings_for(broker, tmp_path).model_copy(
        update={"store": StoreSettings(kind="influxdb", influx=InfluxSettings(url=victoria.url))}
    )
    async with Hub(settings) as hub:
        pub = Client(broker, "gw-1-client")
        pub.publish_many([("hjem/v1/gw-1/obs", batch("gw-1", i * 10, 10)) for i in range(5)])
        pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 10))  # a repeat
        await eventually(lambda: hub.ledger.counters().get("obs_messages_received", 0) == 6)
        assert hub.ledger.counters()["observations_stored"] == 50
        assert hub.ledger.counters()["observations_duplicate"] == 10
        pub.close()
    points = _series(victoria, "150364")["gw-1"]
    assert len(points) == 50
