"""``hjem edge check-config``: the effective settings and every problem, at once.

The effective settings (file, then ``HJEM_EDGE_...`` environment; the password never shown) go
to stdout as JSON when they are valid. To stderr go: each problem (every key pydantic refuses,
each TLS file that is missing or unreadable, TLS files that do not load together), whether an
MQTT password is set and where it comes from (never its value), and a note when a TLS broker
gets no client certificate. Exit 0 without problems, 1 otherwise.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from foundation.mqtturl import is_tls_url
from foundation.settings import (
    TLS_FILES,
    Problem,
    SettingsError,
    merged_input,
    password_source,
    read_toml,
    report,
    validate,
)

__all__ = ["NO_CLIENT_CERTIFICATE", "check_config"]

PASSWORD_VARIABLE = "HJEM_EDGE_MQTT__PASSWORD"  # noqa: S105 - a variable's name
NO_CLIENT_CERTIFICATE = (
    "the broker requires a client certificate: set [mqtt] cert_file and key_file"
    " (the shipped broker's TLS listener does; deploy/certs/make-certs.sh makes them)"
)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def check_config(
    path: Path, out: Callable[[str], None] = print, err: Callable[[str], None] = _stderr
) -> int:
    """Print the effective settings and every problem; 0 without problems, else 1."""
    problems: list[Problem] = []
    data: dict[str, Any] | None = None
    try:
        data = read_toml(EdgeConfig, path)
    except SettingsError as exc:
        problems += exc.problems
    mqtt: Mapping[str, Any] = {}
    if data is not None:
        try:
            config = validate(EdgeConfig, data, str(path))
        except SettingsError as exc:
            problems += exc.problems
        else:
            out(config.model_dump_json(indent=2, exclude={"mqtt": {"password"}}))
            problems += _load_problem(config)
        section = merged_input(EdgeConfig, data).get("mqtt")
        mqtt = section if isinstance(section, Mapping) else {}
    notes: list[str] = []
    if data is not None:
        notes.append(_password_line(data))
        if _tls(mqtt) and not _given(mqtt, "cert_file"):
            notes.append(f"note: {NO_CLIENT_CERTIFICATE}")
    return report(path, problems, err, *notes)


def _load_problem(config: EdgeConfig) -> list[Problem]:
    """The TLS files exist; do they load (a CA file that is a CA, a key that fits)?"""
    mqtt = config.mqtt
    if mqtt.tls is None:
        return []
    try:
        context = ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file else None)
        if mqtt.cert_file and mqtt.key_file:
            context.load_cert_chain(str(mqtt.cert_file), str(mqtt.key_file))
    except (OSError, ssl.SSLError) as exc:
        return [("mqtt.ca_file/cert_file/key_file", f"the TLS files do not load: {exc}")]
    return []


def _password_line(data: dict[str, Any]) -> str:
    source = password_source(EdgeConfig, data, "mqtt")
    if source is not None:
        return f"mqtt password: set, from {source}"
    return (
        "mqtt password: NOT set (the shipped broker refuses a login without one): "
        f"set {PASSWORD_VARIABLE}"
    )


def _given(mqtt: Mapping[str, Any], name: str) -> bool:
    table = mqtt.get("tls")
    return mqtt.get(name) is not None or (isinstance(table, Mapping) and name in table)


def _tls(mqtt: Mapping[str, Any]) -> bool:
    url = mqtt.get("url")
    tls_url = isinstance(url, str) and is_tls_url(url)
    return tls_url or mqtt.get("tls") is not None or any(_given(mqtt, n) for n in TLS_FILES)
