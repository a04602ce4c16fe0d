"""A day of history for the demo residents, so the dashboard's charts are not empty at start.

Pure core: :func:`history` asks each home's resident model (no incidents: an ordinary day)
for its vital signs every ``step`` over the last ``hours``, encodes them as the home's virtual
health devices do (``sim.encoders``) and decodes them with the edge's own decoders
(``edge.decoders.decode_gatt``), so the hub receives exactly what a gateway that had been
running for a day would have sent, ``demo: true`` included. Shell: :func:`publish_history`
sends it as the home's gateway (its MQTT login, its topic), in batches, QoS 1.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.decoders import DecodeContext, DeviceState, decode_gatt
from edge.kinds import KINDS
from hjem.demo_home import DemoDevice, DemoHome
from schemas.models import Batch, DeviceInfo, Observation, Source, encode
from sim import encoders as enc
from sim.resident import ResidentModel, VitalSigns

__all__ = ["HISTORY_HOURS", "HistoryError", "batches", "history", "publish_history"]

HISTORY_HOURS = 24.0
_ZONE = ZoneInfo("Europe/Copenhagen")
_BATCH = 100
# minutes between readings per health kind (weight once in the morning and once at night)
_MINUTES: dict[str, int] = {
    "heart_rate": 15,
    "pulse_oximeter": 15,
    "thermometer": 30,
    "blood_pressure": 60,
    "glucose": 120,
    "weight_scale": 720,
}
# characteristic (from the kinds table), minutes between readings (60 unless set above)
_CADENCE: dict[str, tuple[int, int]] = {
    kind.name: (kind.measurement, _MINUTES.get(kind.name, 60))
    for kind in KINDS
    if kind.measurement is not None
}


class HistoryError(Exception):
    """The history could not be delivered to the broker."""


def _value(kind: str, vitals: VitalSigns, stamp: datetime, sequence: int) -> bytes:
    if kind == "heart_rate":
        return enc.heart_rate_measurement(vitals.heart_rate_bpm, [60_000 / vitals.heart_rate_bpm])
    if kind == "pulse_oximeter":
        return enc.plx_spot_check(vitals.spo2_percent, vitals.heart_rate_bpm, stamp)
    if kind == "thermometer":
        return enc.temperature_measurement(vitals.body_temperature_celsius, stamp, 3)
    if kind == "blood_pressure":
        return enc.blood_pressure_measurement(
            vitals.systolic_mmhg,
            vitals.diastolic_mmhg,
            vitals.mean_arterial_mmhg,
            when=stamp,
            pulse_bpm=vitals.heart_rate_bpm,
        )
    if kind == "glucose":
        return enc.glucose_measurement(sequence, stamp, vitals.glucose_mmol_per_l)
    return enc.weight_measurement(vitals.weight_kg, when=stamp)


def _times(until: datetime, hours: float, minutes: int) -> Iterator[datetime]:
    step = timedelta(minutes=minutes)
    start = until - timedelta(hours=hours)
    # on the grid of local clock time, so readings fall at :00, :15 ... as a routine would
    local = start.astimezone(_ZONE)
    first = local.replace(minute=0, second=0, microsecond=0)
    when = first
    while when < local:
        when += step
    while when < until:
        yield when
        when += step


def _device_history(
    home: DemoHome, device: DemoDevice, model: ResidentModel, until: datetime, hours: float
) -> list[Observation]:
    characteristic, minutes = _CADENCE[device.kind]
    source = Source(
        publisher=home.gateway_id,
        gateway=home.gateway_id,
        device=DeviceInfo(id=device.device_id, address=device.address),
    )
    state = DeviceState()
    out: list[Observation] = []
    for sequence, when in enumerate(_times(until, hours, minutes), start=1):
        stamp = when.astimezone(_ZONE).replace(tzinfo=None)  # device clocks are local, naive
        data = _value(device.kind, model.vitals(when), stamp, sequence)
        ctx = DecodeContext(source=source, now=when, state=state, demo=True)
        out += decode_gatt(characteristic, data, ctx)
    return out


def history(home: DemoHome, until: datetime, hours: float = HISTORY_HOURS) -> list[Observation]:
    """The home's health-device readings over ``[until - hours, until)``, oldest first."""
    model = ResidentModel(home.seed)  # the same seed as the live radio, without incidents
    out: list[Observation] = []
    for device in home.devices:
        if device.kind in _CADENCE:
            out += _device_history(home, device, model, until, hours)
    return sorted(out, key=lambda o: o.effective)


def batches(publisher: str, observations: list[Observation], sent: datetime) -> list[bytes]:
    """Wire-form batches of at most 100 observations (well under the broker's size limit)."""
    return [
        encode(
            Batch(
                message_id=f"demo-history-{uuid.uuid4().hex}",
                publisher=publisher,
                sent=sent,
                observations=observations[n : n + _BATCH],
            )
        )
        for n in range(0, len(observations), _BATCH)
    ]


def publish_history(
    port: int, username: str, password: str, payloads: list[bytes], timeout_s: float = 30.0
) -> None:
    """Publish the batches on ``hjem/v1/<username>/obs`` (QoS 1) and wait for every PUBACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from schemas.topics import observations_topic

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{username}-history", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    try:
        client.connect("127.0.0.1", port, keepalive=30)
    except OSError as exc:
        raise HistoryError(f"history for {username}: cannot connect to the broker: {exc}") from exc
    client.loop_start()
    try:
        infos = [
            client.publish(observations_topic(username), payload, qos=1) for payload in payloads
        ]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise HistoryError(f"history for {username}: the broker did not acknowledge")
    except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
        raise HistoryError(f"history for {username}: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()
