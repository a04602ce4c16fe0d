"""The engine reads the ingest fast path's decoded observations exactly as it reads models.

The hub hands the alert engine what ingest decoded (``StoredObservation.reading``, its time
parsed), so that it need not build a pydantic model per observation. The same scenario
is fed once as models and once as decoded structs; the events must be identical.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hub.alerts.inputs import ObservationInput, has_code, observation_keys, readings
from hub.ingest.fastpath import accept
from schemas.models import AlertEvent, Batch, Observation, encode
from tests.support.alerts import T0, Harness, bp, obs

RULES = """
[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.5
[[rule]]
id = "sbp-high"
kind = "threshold"
measure = "blood_pressure_systolic"
operator = ">"
value = 180
clear_value = 160
[[rule]]
id = "fall"
kind = "event"
measure = "fall"
[[rule]]
id = "news2"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }, { min_score = 7, severity = "critical" }]
single_parameter_3 = "medium"
max_age_seconds = 3600
min_parameters = 3
"""


def _scenario() -> list[Observation]:
    at = [T0 + timedelta(minutes=m) for m in range(8)]
    return [
        obs("body_temperature", "101.5", at=at[0], unit="[degF]"),
        bp("185", "95", at=at[1]),
        obs("respiration_rate", "25", at=at[2]),
        obs("spo2", "91", at=at[3]),
        obs("heart_rate", "131", at=at[4]),
        obs("fall", at=at[5], value_code="fall"),
        bp("158", "90", at=at[6]),
        obs("body_temperature", "36.4", at=at[7]),
    ]


def _decoded(observation: Observation) -> ObservationInput:
    publisher = observation.source.publisher
    message = Batch(message_id="m-1", publisher=publisher, sent=T0, observations=[observation])
    accepted = accept(encode(message), now=T0 + timedelta(hours=1), expected_publisher=publisher)
    assert accepted is not None
    [wire] = accepted.observations
    return ObservationInput(wire, "r-1", "h-1", "org-a", None)


def _run(tmp_path: Path, name: str, *, decoded: bool) -> list[AlertEvent]:
    h = Harness(tmp_path / f"{name}.db", RULES)
    events: list[AlertEvent] = []
    for observation in _scenario():
        h.at(observation.effective)
        if decoded:
            events += h.engine.observe([_decoded(observation)])
        else:
            events += h.engine.observe([ObservationInput(observation, "r-1", "h-1", "org-a")])
    return events


def _essence(events: list[AlertEvent]) -> list[tuple[object, ...]]:
    return [(e.rule, e.state, e.severity, e.summary, e.time) for e in events]


def test_decoded_and_model_inputs_give_the_same_events(tmp_path: Path) -> None:
    models = _run(tmp_path, "models", decoded=False)
    decoded = _run(tmp_path, "decoded", decoded=True)
    assert {e.rule for e in models} >= {"fever", "sbp-high", "fall", "news2"}
    assert _essence(decoded) == _essence(models)


def test_readings_keys_and_time_agree() -> None:
    for observation in _scenario():
        model = ObservationInput(observation, "r-1")
        wire = _decoded(observation)
        assert observation_keys(wire.observation) == observation_keys(model.observation)
        keys = observation_keys(model.observation)
        assert list(readings(wire.observation, keys, None)) == list(
            readings(model.observation, keys, None)
        )
        assert has_code(wire.observation, keys) == has_code(model.observation, keys)
        assert wire.effective == model.effective == observation.effective


def test_a_model_input_becomes_the_same_reading_as_a_decoded_one() -> None:
    observation = _scenario()[0]
    wire = _decoded(observation).observation
    model = ObservationInput(observation, "r-1").observation
    assert model == wire
    assert isinstance(model.effective, datetime)
    assert model.effective == observation.effective
