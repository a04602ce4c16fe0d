"""Who a reading is for, and whether its sender may send it: the registry's snapshot (pure).

A device belongs to one publisher at a time. That is the publisher it is *bound* to
(``hjem admin bind-device``; a vendor's devices, or a device that a given gateway alone
reads), or else, while the device is assigned to a resident, any gateway of that resident's
home. A reading from any other publisher is refused: a gateway of one organisation cannot
write into another organisation's residents, and a vendor cannot write for a device it was
not registered for.

A device that is neither bound nor assigned at the reading's time belongs to nobody yet: its
readings are stored without a resident (so an installer sees it and can assign it), and
they reach no resident's record or alert.

A retired publisher (``hjem admin retire-gateway``) may send nothing: its readings are refused
whatever their time, with a reason that names the retirement.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Final

__all__ = ["REFUSED", "Ranges", "Refused", "Snapshot", "ranges_of", "retired_reason"]


class Refused:
    """The sender may not send readings for this device at this time; ``reason`` says why
    when it is not the device binding (a retired publisher)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"REFUSED({self.reason!r})" if self.reason else "REFUSED"


REFUSED: Final = Refused()

Ranges = tuple[list[int], list[tuple[int, int | None, str]]]
"""Per device: the start times (µs, sorted) and the ``(start, end, value)`` rows."""


def ranges_of(rows: list[tuple[str, int, int | None, str]]) -> dict[str, Ranges]:
    """``(device, start_us, end_us, value)`` rows sorted by start -> per-device ranges."""
    grouped: dict[str, list[tuple[int, int | None, str]]] = {}
    for device, s_us, e_us, value in rows:
        grouped.setdefault(device, []).append((s_us, e_us, value))
    return {d: ([r[0] for r in rs], rs) for d, rs in grouped.items()}


def retired_reason(publisher: str, retired: str) -> Refused:
    """Why a retired publisher's readings are refused (``retired``: ISO time)."""
    return Refused(
        f"publisher {publisher!r} was retired at {retired} (hjem admin retire-gateway):"
        " its readings are no longer accepted (a replacement gets a new id: hjem admin add-gateway)"
    )


def _at(entry: Ranges | None, at_us: int) -> str | None:
    if entry is None:
        return None
    starts, rows = entry
    index = bisect_right(starts, at_us) - 1
    if index < 0:
        return None
    _, end_us, value = rows[index]
    return value if end_us is None or at_us < end_us else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The registry as one ingest group sees it; call it as ``(device, at_us, publisher)``."""

    assignments: dict[str, Ranges]
    bindings: dict[str, Ranges]
    resident_home: dict[str, str]
    home_gateways: dict[str, frozenset[str]]
    retired: dict[str, Refused] = field(default_factory=dict)
    """Retired publishers (``hjem admin retire-gateway``): every reading of theirs is refused."""

    def resident(self, device_id: str, at_us: int) -> str | None:
        """The resident the device was assigned to at ``at_us`` (µs), or None."""
        return _at(self.assignments.get(device_id), at_us)

    def owner(self, device_id: str, at_us: int) -> str | None:
        """The publisher the device was explicitly bound to at ``at_us``, or None."""
        return _at(self.bindings.get(device_id), at_us)

    def __call__(self, device_id: str, at_us: int, publisher: str) -> str | Refused | None:
        """The reading's resident (None: unassigned), or REFUSED for a foreign or retired
        sender (whatever the reading's time: a retired gateway may replay old readings)."""
        if publisher in self.retired:
            return self.retired[publisher]
        resident = _at(self.assignments.get(device_id), at_us)
        owner = _at(self.bindings.get(device_id), at_us) if self.bindings else None
        if owner is not None:
            return resident if owner == publisher else REFUSED
        if resident is None:
            return None
        home = self.resident_home.get(resident)
        if home is not None and publisher in self.home_gateways.get(home, ()):
            return resident
        return REFUSED
