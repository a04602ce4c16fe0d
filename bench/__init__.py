"""Benchmarks that print figures, each side by side with its named peer (``hjem bench``).

Not part of the installed package: they live in the source checkout only and run from there
(``hjem bench`` finds this directory next to the ``hjem`` package or in the working directory).
Benchmarks are not tests: they print what they measured (and the peer measured in the same
run) so that a reader can judge; nothing here fails on a number. Each entry of
:data:`BENCHMARKS` is ``name -> ("module:function", description)``; the function takes no
arguments and prints its own report. ``tests/bench`` runs each once at tiny sizes.
"""

from __future__ import annotations

__all__ = ["BENCHMARKS"]

BENCHMARKS: dict[str, tuple[str, str]] = {
    "agent": (
        "bench.agent:agent",
        "edge agent CPU and peak RSS, 50 virtual devices at 1 advert/s, vs the virtual radio alone",
    ),
    "outbox": (
        "bench.agent:outbox",
        "outbox drain of 100,000 observations into Mosquitto, vs plain paho QoS 1",
    ),
    "ingest": (
        "bench.ingest:ingest_throughput",
        "hub MQTT ingest end to end (validated, committed, acked) vs a raw paho QoS 1 subscriber",
    ),
    "failover": (
        "bench.failover:failover",
        (
            "two hub processes on PostgreSQL, the alert leader SIGKILLed: kill -> first alert"
            " evaluated on the new leader, p50/max, vs the same probe with no kill"
        ),
    ),
    "schema-validate": (
        "bench.schema_validate:validate_throughput",
        "batch validation, observations/s, vs jsonschema on the same payloads",
    ),
    "decode": (
        "bench.decode:decode_throughput",
        "edge decoders, decodes/s on a mixed corpus, vs bthome-ble on the same BTHome payloads",
    ),
    "alerts": (
        "bench.alerts:latency",
        (
            "MQTT observation -> alert event on the SSE stream, p50/p99 at 1,000 obs/s "
            "background, vs the plain MQTT relay floor"
        ),
    ),
    "fhir": (
        "bench.fhir:search_throughput",
        "FHIR Observation search, obs/s for one resident's 30 days, vs the store's own read",
    ),
    "fhir-push": (
        "bench.fhir_push:push_throughput",
        (
            "FHIR push exporter, obs/s stored -> confirmed by Medplum, vs the same Bundles"
            " posted directly"
        ),
    ),
    "synth-cohort": (
        "bench.synth_cohort:cohort",
        "synthetic cohort generator, obs/s and peak RSS, vs building readings with the models",
    ),
}
