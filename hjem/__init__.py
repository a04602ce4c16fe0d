"""Hjem: open home monitoring for welfare and health care.

The distribution ships four import packages: ``schemas`` (the open contract), ``edge`` (the
gateway agent), ``hub`` (ingest, storage, alerts, dashboard) and this one, which holds the
``hjem`` command and the pieces every part shares (the Mosquitto runner).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hjem")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
