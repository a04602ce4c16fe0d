"""Checks and files for installers: device ids as the edge reports them, env files for secrets.

* :func:`device_id` turns a Bluetooth address in any common form (``A4:C1:38:00:00:01``,
  ``a4-c1-38-00-00-01``, ``A4C138000001``, ``a4c1.3800.0001``, with or without a ``ble:`` /
  ``ble-`` prefix) into the id the edge gives the device (``ble-a4c138000001``,
  ``edge.config.DeviceConfig.device_id``); any other id (a vendor's) is kept as it is.
* :func:`check_seen` refuses an id that no publisher has reported (unless forced).
* :func:`write_env_line` sets ``NAME=value`` in an environment file (systemd
  ``EnvironmentFile=``), creating it mode 0600, keeping its other lines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hub.admin.provision import BrokerFileError, ProvisionError, is_hub_login
from hub.db import Connection
from hub.registry.figures import device_seen, organisation_ids

__all__ = [
    "EDGE_PASSWORD_VARIABLE",
    "HUB_PASSWORD_VARIABLE",
    "check_organisation",
    "check_seen",
    "device_id",
    "password_variable",
    "write_env_line",
]

HUB_PASSWORD_VARIABLE = "HJEM_HUB_MQTT__PASSWORD"  # noqa: S105 - a variable name
EDGE_PASSWORD_VARIABLE = "HJEM_EDGE_MQTT__PASSWORD"  # noqa: S105 - a variable name
_HEX = "[0-9A-Fa-f]"
_MAC_FORMS = (
    re.compile(rf"^({_HEX}{{2}})([:-]{_HEX}{{2}}){{5}}$"),
    re.compile(rf"^{_HEX}{{12}}$"),
    re.compile(rf"^{_HEX}{{4}}\.{_HEX}{{4}}\.{_HEX}{{4}}$"),
)
_PREFIX = re.compile(r"^ble[:\-_]", re.IGNORECASE)


def device_id(text: str) -> str:
    """The device id the edge uses for a Bluetooth address; other ids unchanged."""
    candidate = _PREFIX.sub("", text.strip())
    if any(form.match(candidate) for form in _MAC_FORMS):
        return "ble-" + re.sub(r"[^0-9A-Fa-f]", "", candidate).lower()
    if _PREFIX.match(text.strip()):
        raise ProvisionError(
            f"device {text!r}: after 'ble' comes a Bluetooth address of 12 hex digits,"
            " e.g. A4:C1:38:00:00:01 (the hub's id is then ble-a4c138000001)"
        )
    return text.strip()


def check_seen(conn: Connection, device: str, *, force: bool) -> bool:
    """True if a publisher has reported ``device``; else refuse unless ``force``."""
    seen = device_seen(conn, device)
    if not seen and not force:
        raise ProvisionError(
            f"device {device!r} has never been reported by a gateway or vendor (see"
            " `hjem admin list`): check the address, or pass --force to assign it before"
            " its first reading"
        )
    return seen


def check_organisation(conn: Connection, organisation: str | None) -> None:
    from hub.registry.core import Registry

    if organisation is None:
        return
    Registry(conn)  # its tables exist from here on
    known = organisation_ids(conn)
    if organisation in known:
        return
    raise ProvisionError(
        f"organisation {organisation!r} does not exist (known: {', '.join(known) or 'none'};"
        " add it with `hjem admin add-organisation`)"
    )


def password_variable(username: str) -> str:
    """The environment variable that carries this broker login's password."""
    return HUB_PASSWORD_VARIABLE if is_hub_login(username) else EDGE_PASSWORD_VARIABLE


def write_env_line(path: Path, name: str, value: str) -> None:
    """Set ``name=value`` in ``path`` (other lines kept; a new file is mode 0600)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        kept = [line for line in lines if not line.startswith(f"{name}=")]
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join([*kept, f"{name}={value}"]) + "\n")
    except OSError as exc:
        raise BrokerFileError(path, exc.strerror or str(exc)) from exc
