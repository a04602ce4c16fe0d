"""Radio plug-ins: where the agent's advertisements and GATT connections come from.

``radio = "bluez"`` is the gateway's own: bleak on BlueZ, with :class:`BlueZPowerControl`. Any
other name is a plug-in registered under the entry-point group :data:`GROUP`; the simulator
(``pip install 'hjem[sim]'``, package ``sim``) registers ``virtual``. The edge never imports a
plug-in by name, so a gateway without the simulator runs without bumble or numpy and, when
configured for a radio it lacks, says which extra to install.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from edge.errors import ConfigError
from edge.watchdog import PowerControl

if TYPE_CHECKING:
    from edge.config import EdgeConfig

__all__ = ["GROUP", "RadioBackend", "RadioFactory", "load_radio"]

GROUP = "hjem.radio"
"""The entry-point group of radio plug-ins (``name = "module:factory"``)."""


@dataclass(frozen=True)
class RadioBackend:
    """What a radio hands the agent: keyword arguments for bleak's scanner and client (their
    ``backend`` and its options), adapter power control, and the plug-in's own handle."""

    power: PowerControl
    scanner: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    handle: Any = None
    """The plug-in's object (the virtual radio: tests and the demo inject faults through it)."""


RadioFactory = Callable[
    ["EdgeConfig", Callable[[], datetime]], AbstractAsyncContextManager[RadioBackend]
]
"""A plug-in: (gateway config, clock) -> an async context that runs the radio."""


def load_radio(name: str) -> RadioFactory:
    """The plug-in registered as ``name``, or a :class:`ConfigError` naming the extra."""
    found = entry_points(group=GROUP, name=name)
    hint = "the virtual radio comes with the simulator: pip install 'hjem[sim]'"
    if not found:
        raise ConfigError("radio", f"no radio plug-in {name!r} is installed ({hint})")
    try:
        factory: RadioFactory = next(iter(found)).load()
    except ImportError as exc:
        raise ConfigError("radio", f"the {name!r} plug-in cannot load: {exc} ({hint})") from exc
    return factory
