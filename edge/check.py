"""``hjem edge check-config``: the effective settings and **every** problem, at once.

The effective settings (file, then ``HJEM_EDGE_...`` environment; the password never shown)
go to stdout as JSON. To stderr go: each key pydantic refuses (all of them, not the first),
then checks that need the machine — TLS files that do not exist, are not readable or do not
load (a key that does not match its certificate) — whether an MQTT password is set (and
where from), and a note when a TLS broker is given no client certificate. Exit 0 when there
is no problem, 1 otherwise.
"""

from __future__ import annotations

import os
import ssl
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config import EdgeConfig, validation_problems
from edge.mqtt_diagnose import tls_context

__all__ = ["check_config"]

Problem = tuple[str, str]
_FILES = ("ca_file", "cert_file", "key_file")
_MISSING = "does not exist or is not a file"  # the model's own file check, reported here instead
PASSWORD_VARIABLE = "HJEM_EDGE_MQTT__PASSWORD"  # noqa: S105 - a variable's name


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def check_config(
    path: Path, out: Callable[[str], None] = print, err: Callable[[str], None] = _err
) -> int:
    """Print the effective settings and every problem; 0 without problems, else 1."""
    problems: list[Problem] = []
    data = _read(path, problems)
    mqtt: dict[str, Any] = {}
    if data is not None:
        try:
            config = EdgeConfig(**data)
        except ValidationError as exc:
            problems += [p for p in validation_problems(exc) if _MISSING not in p[1]]
        else:
            out(config.model_dump_json(indent=2, exclude={"mqtt": {"password"}}))
        section = data.get("mqtt")
        mqtt = section if isinstance(section, dict) else {}
        problems += _file_problems(mqtt)
    for key, problem in problems:
        err(f"problem: {key}: {problem}")
    err(_password_line(mqtt))
    if data is not None and _tls_without_certificate(mqtt):
        err(
            "note: no [mqtt] cert_file/key_file: the shipped broker's TLS listener requires a "
            "client certificate (deploy/certs/make-certs.sh makes one)"
        )
    if problems:
        count = len(problems)
        err(f"{path}: {count} problem{'s' if count > 1 else ''}")
        return 1
    err(f"{path}: no problems")
    return 0


def _read(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(("(file)", f"cannot read: {exc.strerror or exc}"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(("(file)", f"not valid TOML: {exc}"))
    return None


def _setting(mqtt: dict[str, Any], name: str) -> Any:
    return os.environ.get(f"HJEM_EDGE_MQTT__{name.upper()}", mqtt.get(name))


def _file_problems(mqtt: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    paths: dict[str, Path] = {}
    for name in _FILES:
        value = _setting(mqtt, name)
        if not isinstance(value, str):
            continue
        path = Path(value)
        if not path.is_file():
            problems.append((f"mqtt.{name}", f"{path} {_MISSING}"))
            continue
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            problems.append((f"mqtt.{name}", f"{path} is not readable: {exc.strerror or exc}"))
            continue
        paths[name] = path
    if len(paths) == len([n for n in _FILES if isinstance(_setting(mqtt, n), str)]):
        problems += _tls_load_problem(paths)
    return problems


def _tls_load_problem(paths: dict[str, Path]) -> list[Problem]:
    names = {name: str(path) for name, path in paths.items()}
    if ("cert_file" in names) != ("key_file" in names):
        return []  # pydantic says so: cert_file and key_file go together
    try:
        tls_context(names.get("ca_file"), names.get("cert_file"), names.get("key_file"))
    except (OSError, ssl.SSLError) as exc:
        return [("mqtt.ca_file/cert_file/key_file", f"cannot load the TLS files: {exc}")]
    return []


def _password_line(mqtt: dict[str, Any]) -> str:
    if os.environ.get(PASSWORD_VARIABLE):
        return f"mqtt password: set (from {PASSWORD_VARIABLE})"
    if mqtt.get("password"):
        return f"mqtt password: set (in [mqtt] password; {PASSWORD_VARIABLE} would override it)"
    return (
        f"mqtt password: NOT set: the shipped broker refuses a login without one; "
        f"set {PASSWORD_VARIABLE}"
    )


def _tls_without_certificate(mqtt: dict[str, Any]) -> bool:
    url = str(_setting(mqtt, "url") or "")
    tls = url.startswith("mqtts://") or _setting(mqtt, "ca_file") is not None
    return tls and _setting(mqtt, "cert_file") is None
