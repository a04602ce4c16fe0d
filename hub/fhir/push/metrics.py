"""The push exporter's state on the hub's ``/metrics``, read from the outbox at scrape time.

Per recipient (label ``recipient``, a configured name): ``hjem_fhir_push_queue`` (rows waiting),
``hjem_fhir_push_parked`` (rows the recipient refused, kept for the operator),
``hjem_fhir_push_sent_total`` (observations delivered), ``hjem_fhir_push_failures_total``
(failed attempts), ``hjem_fhir_push_withheld_total`` (rows dropped unsent: consent revoked),
``hjem_fhir_push_failing`` (failed attempts in a row now; 0 when the last one worked) and
``hjem_fhir_push_last_success_timestamp_seconds`` (0 before the first delivery).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.fhir.push.outbox import Outbox, RecipientState

__all__ = ["PushCollector"]

_LABELS = ["recipient"]


Figure = tuple[str, str, Callable[[RecipientState], float]]

GAUGES: tuple[Figure, ...] = (
    ("queue", "Observations waiting to be pushed", lambda s: s.queued),
    ("parked", "Observations the recipient refused, kept aside", lambda s: s.parked_rows),
    (
        "failing",
        "Failed push attempts in a row (0: the last one worked)",
        lambda s: s.consecutive_failures,
    ),
    (
        "last_success_timestamp_seconds",
        "When the recipient last confirmed a Bundle (Unix time; 0: never)",
        lambda s: s.last_success.timestamp() if s.last_success else 0.0,
    ),
)
COUNTERS: tuple[Figure, ...] = (
    ("sent", "Observations the recipient confirmed", lambda s: s.sent),
    ("failures", "Failed push attempts", lambda s: s.failures),
    ("withheld", "Queued observations dropped unsent: no consent any more", lambda s: s.withheld),
)


class PushCollector(Collector):
    def __init__(self, outbox: Outbox, recipients: Sequence[str]) -> None:
        self._outbox = outbox
        self._recipients = tuple(recipients)

    def collect(self) -> Iterator[Metric]:
        states = [self._outbox.state(name) for name in self._recipients]
        for name, doc, value in GAUGES:
            gauge = GaugeMetricFamily(f"hjem_fhir_push_{name}", doc, labels=_LABELS)
            for state in states:
                gauge.add_metric([state.recipient], value(state))
            yield gauge
        for name, doc, value in COUNTERS:
            counter = CounterMetricFamily(f"hjem_fhir_push_{name}", doc, labels=_LABELS)
            for state in states:
                counter.add_metric([state.recipient], value(state))
            yield counter
