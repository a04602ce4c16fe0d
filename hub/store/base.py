"""The time-series store interface and the values that cross it.

``write`` is idempotent: an observation whose id is already stored with the same effective
time from the same publisher is skipped, so a redelivered MQTT message or a retried HTTP
request stores nothing twice. Ids are derived from the device and its own instant
(:mod:`schemas.identity`), so a resent reading always carries both again. The publisher is
part of the identity because ids are derived from public inputs: without it, a sender could
store readings under the ids that another's genuine readings will carry, and those would be
dropped as duplicates. Time comes first in the key because an index on random ids alone
touches a different page for every insert, which makes each commit rewrite most of that
index (see docs/hub.md, "Storage").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.db import to_micros
from hub.errors import StoreError
from hub.ingest.payloads import StoredPayload
from hub.reading import Reading, reading_of, to_model
from schemas.models import Observation

__all__ = [
    "ROLLUP_WIDTHS",
    "Bucket",
    "Sample",
    "StoredObservation",
    "TimeSeriesStore",
    "samples_of",
]

ROLLUP_WIDTHS = (timedelta(minutes=5), timedelta(hours=1))
"""Bucket widths kept as downsampled roll-ups for charts."""


class StoredObservation:
    """An accepted observation with what the hub added: sender, resident, arrival time.

    ``reading`` (:class:`hub.reading.Reading`) is what storage, roll-ups and alerts read. A
    schema model given instead (the models judged the message, or a store read it back) is
    turned into its reading at once. ``observation`` is the schema model, for writing the
    contract out (stored JSON, FHIR); built on first use, so consumers that only store pay
    nothing for it.
    """

    __slots__ = (
        "_model",
        "effective",
        "effective_us",
        "payload",
        "position",
        "publisher",
        "reading",
        "received",
        "resident_id",
        "stored_payload",
    )

    def __init__(  # noqa: PLR0917 - the record's own fields, positional as before
        self,
        reading: Reading | Observation,
        publisher: str,
        resident_id: str | None,
        received: datetime,
        payload: bytes | None = None,
        position: int = -1,
        *,
        stored_payload: StoredPayload | None = None,
    ) -> None:
        self._model: Observation | None = None
        if type(reading) is not Reading and isinstance(reading, Observation):
            self._model, reading = reading, reading_of(reading)  # (the type test first: cheaper)
        self.reading: Reading = reading
        self.effective: datetime = reading.effective
        self.effective_us: int = to_micros(reading.effective)
        self.publisher = publisher
        self.resident_id = resident_id
        self.received = received
        self.payload = payload
        """The whole message as received (shared by the observations of one message), if any."""
        self.position = position
        """Index of this observation in the message's ``observations`` array."""
        self.stored_payload = stored_payload
        """``payload`` as the store keeps it (:func:`hub.ingest.payloads.stored_form`), if made
        already (the MQTT relay deflates the payloads it judges)."""

    @property
    def observation(self) -> Observation:
        if self._model is None:
            self._model = to_model(self.reading)
        return self._model

    def _key(self) -> tuple[object, ...]:
        return (
            self.reading,
            self.publisher,
            self.resident_id,
            self.received,
            self.payload,
            self.position,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredObservation):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.id, self.publisher, self.received))

    def __repr__(self) -> str:
        return (
            f"StoredObservation(id={self.id!r}, publisher={self.publisher!r},"
            f" resident_id={self.resident_id!r}, received={self.received.isoformat()})"
        )

    @property
    def id(self) -> str:
        return self.reading.id

    @property
    def key(self) -> tuple[int, str, str]:
        """What makes an observation a duplicate: the same id at the same effective time from
        the same publisher (so no sender can pre-empt another's readings by their ids)."""
        return (self.effective_us, self.reading.id, self.publisher)

    @property
    def device_id(self) -> str:
        return self.reading.source.device.id

    @property
    def code(self) -> str:
        """The primary code (e.g. MDC ``150364`` or a Hjem key such as ``fall``)."""
        return self.reading.code[0].code


@dataclass(frozen=True, slots=True)
class Sample:
    """One numeric value for charts: an observation's value, or one of its components."""

    time: datetime
    value: float
    unit: str | None
    code: str
    observation_id: str
    device_id: str
    resident_id: str | None


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    count: int
    minimum: float
    mean: float
    maximum: float


def samples_of(item: StoredObservation) -> Iterator[Sample]:
    """The numeric values in an observation: its value (booleans as 0/1) and components."""
    obs = item.reading

    def sample(code: str, value: float, unit: str | None) -> Sample:
        return Sample(item.effective, value, unit, code, obs.id, item.device_id, item.resident_id)

    if obs.value is not None:
        yield sample(obs.code[0].code, float(obs.value), obs.unit)
    elif obs.value_boolean is not None:
        yield sample(obs.code[0].code, 1.0 if obs.value_boolean else 0.0, None)
    for comp in obs.components:
        if comp.value is not None:
            yield sample(comp.code[0].code, float(comp.value), comp.unit)


class TimeSeriesStore(ABC):
    """Where observations are kept. Implementations: SQLite (default) and InfluxDB."""

    kind: str = "abstract"

    def write(self, items: Sequence[StoredObservation]) -> int:
        """Store the items not stored before; return how many were new."""
        return len(self.write_new(items))

    @abstractmethod
    def write_new(self, items: Sequence[StoredObservation]) -> list[StoredObservation]:
        """Store the items not stored before (by observation id) and return exactly those.

        When this returns, the new items are durable (committed). Raises StoreError, in which
        case nothing of ``items`` counts as stored.
        """

    @abstractmethod
    def query(
        self,
        *,
        code: str,
        start: datetime,
        end: datetime,
        resident_id: str | None = None,
        device_id: str | None = None,
    ) -> list[Sample]:
        """Samples of ``code`` in ``[start, end)`` for one resident or one device, by time."""

    @abstractmethod
    def rollup(
        self,
        *,
        code: str,
        start: datetime,
        end: datetime,
        width: timedelta,
        resident_id: str | None = None,
        device_id: str | None = None,
    ) -> list[Bucket]:
        """min/mean/max of ``code`` per ``width`` bucket in ``[start, end)``, by time."""

    @abstractmethod
    def latest(self, resident_id: str) -> dict[str, Sample]:
        """The newest sample of each code for the resident."""

    def stored_since(self, cursor: int, limit: int) -> list[tuple[int, StoredObservation]]:
        """Up to ``limit`` observations stored after number ``cursor``, in commit order, each
        with its number: a consumer that keeps the last number it took (in its own
        transaction) misses nothing and takes nothing twice, whenever it crashed. Numbers
        grow with each commit and are never reused; 0 is before the first."""
        del cursor, limit
        raise StoreError(self.kind, "stored_since", "this store does not number observations")

    def last_stored(self) -> int:
        """The last number given out (0: none; at least the newest stored observation's):
        where a consumer that wants only what is stored from now on starts."""
        raise StoreError(self.kind, "last_stored", "this store does not number observations")

    def apply_retention(self, now: datetime) -> int:
        """Delete what is older than the retention settings; return rows deleted."""
        del now
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
