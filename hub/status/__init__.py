"""The hub's system-status model: can it vouch for calm? (:mod:`hub.status.core`, pure;
:mod:`hub.status.monitor`, wired into the running hub; ``[status]`` settings) and its
Prometheus metrics (:mod:`hub.status.metrics`, ``GET /metrics``)."""

from hub.status.core import Assessment, Reason, Snapshot, StatusModel, assess
from hub.status.settings import StatusSettings

__all__ = ["Assessment", "Reason", "Snapshot", "StatusModel", "StatusSettings", "assess"]
