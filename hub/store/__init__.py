"""Time-series stores: the interface (:mod:`hub.store.base`), SQLite (default) and InfluxDB."""

from hub.store.base import Bucket, Sample, StoredObservation, TimeSeriesStore

__all__ = ["Bucket", "Sample", "StoredObservation", "TimeSeriesStore"]
