"""Hjem: open home monitoring for welfare and health care.

The distribution ships five import packages: ``foundation`` (what every part shares: clock,
MQTT URLs, the CLI error, the version, logging, the SQLite transaction helper), ``schemas``
(the open contract), ``edge`` (the gateway agent), ``hub`` (ingest, storage, alerts,
dashboard) and this one, which holds the ``hjem`` command, the demo and the Mosquitto runner
the demo and tests share. Nothing outside ``hjem`` imports it.
"""

from foundation.version import __version__

__all__ = ["__version__"]
