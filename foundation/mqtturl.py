"""MQTT broker URLs (``mqtt://host:1883``, ``mqtts://host:8883``), shared by edge and hub config."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["MQTT_SCHEMES", "broker_host", "broker_port", "is_tls_url"]

MQTT_SCHEMES = ("mqtt", "mqtts")


def broker_host(url: str) -> str:
    return urlsplit(url).hostname or "127.0.0.1"


def broker_port(url: str) -> int:
    """The URL's port, else the scheme's default (1883, or 8883 for ``mqtts``)."""
    parts = urlsplit(url)
    return parts.port or (8883 if parts.scheme == "mqtts" else 1883)


def is_tls_url(url: str) -> bool:
    return urlsplit(url).scheme == "mqtts"
