"""Broker-side provisioning: the Mosquitto password file, the ACL, and the loopback variant.

Pure core: :func:`render_acl` (the ACL text; ``deploy/mosquitto/hjem.acl`` is its default
output) and :func:`render_loopback` (the shipped ``mosquitto.conf`` with only its listeners,
file paths and process options changed, so tests and the demo run the production
configuration rather than a copy). Thin shell: :func:`add_broker_user`,
:func:`remove_broker_user` (``mosquitto_passwd``, the password on stdin, never on the command
line), :func:`broker_users` and :func:`reload_broker` (SIGHUP by PID file).

Hub logins: the shipped broker binds each client id to its login (``use_username_as_clientid``),
so every MQTT connection needs a login of its own. A hub process has two: ``hub`` (or
``hub-<node>`` when several processes share the load) for ingest, and ``<login>-alerts`` for
its alert publisher. :func:`add_broker_user` writes both with one password (the hub has one
secret), and :func:`render_acl` gives both their rights; publishers may not use these names.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hub.errors import HubError
from schemas.topics import PREFIX, TopicError, status_topic

__all__ = [
    "DEPLOY_DIR",
    "HUB_USERNAME",
    "PRODUCTION_PORTS",
    "SHIPPED_ACL",
    "SHIPPED_CONF",
    "BrokerFileError",
    "LoopbackLayout",
    "MosquittoPasswdError",
    "ProvisionError",
    "TemplateError",
    "add_broker_user",
    "alerts_login",
    "broker_users",
    "check_hub_login",
    "check_username",
    "generate_secret",
    "is_hub_login",
    "reload_broker",
    "remove_broker_user",
    "render_acl",
    "render_loopback",
]

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
SHIPPED_CONF = DEPLOY_DIR / "mosquitto" / "mosquitto.conf"
SHIPPED_ACL = DEPLOY_DIR / "mosquitto" / "hjem.acl"
HUB_USERNAME = "hub"
BROKER_GROUP = "mosquitto"
PLAIN_PORT = 1883
TLS_PORT = 8883
PRODUCTION_PORTS = (PLAIN_PORT, TLS_PORT)
_SYSTEM_PATH = re.compile(r"(^|\s)/(etc|var|run|usr)/")
_HUB_LOGIN = re.compile(r"^hub(-[a-z0-9][a-z0-9_\-]{0,40})?$")
_ALERTS_SUFFIX = "-alerts"


class ProvisionError(HubError):
    """Root of the provisioning errors."""


class TemplateError(ProvisionError):
    """The shipped broker configuration does not have the shape the renderer expects."""

    def __init__(self, line_number: int, line: str, problem: str) -> None:
        self.line_number = line_number
        self.line = line
        self.problem = problem
        super().__init__(f"mosquitto.conf line {line_number} ({line!r}): {problem}")


class BrokerFileError(ProvisionError):
    """A broker file (password file, PID file) cannot be read or written."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class MosquittoPasswdError(ProvisionError):
    """``mosquitto_passwd`` is missing or failed."""

    def __init__(self, username: str, detail: str) -> None:
        self.username = username
        self.detail = detail
        super().__init__(f"mosquitto_passwd for {username!r}: {detail}")


def alerts_login(hub_login: str) -> str:
    """The login of a hub process's alert publisher (its second MQTT connection)."""
    return hub_login + _ALERTS_SUFFIX


def _hub_node_login(username: str) -> bool:
    """``hub`` or ``hub-<node>`` (not an alerts login)."""
    return bool(_HUB_LOGIN.match(username)) and not username.endswith(_ALERTS_SUFFIX)


def is_hub_login(username: str) -> bool:
    """A hub process's login (``hub``, ``hub-<node>``) or its alert publisher's."""
    return _hub_node_login(username.removesuffix(_ALERTS_SUFFIX)) or _hub_node_login(username)


def check_hub_login(username: str) -> str:
    if not _hub_node_login(username):
        raise ProvisionError(
            f"hub login {username!r} must be 'hub' or 'hub-<node>' (node: a-z 0-9 _ -, up to"
            f" 41 characters, not ending in {_ALERTS_SUFFIX!r})"
        )
    return username


def check_username(username: str, *, allow_hub: bool = False) -> str:
    """A broker username: a publisher id (it is a topic segment), or a hub login if allowed.

    Names starting with ``hub-`` are hub logins, never publishers.
    """
    if allow_hub and is_hub_login(username):
        return username
    try:
        status_topic(username)
    except TopicError as exc:
        raise ProvisionError(str(exc)) from exc
    if username.startswith(f"{HUB_USERNAME}-"):
        raise ProvisionError(f"{username!r}: names starting with 'hub-' are reserved for hubs")
    return username


def generate_secret(nbytes: int = 24) -> str:
    """A random password or token, URL-safe (printed once, stored only as a hash)."""
    return secrets.token_urlsafe(nbytes)


# --- ACL (pure) -----------------------------------------------------------------------------

_ACL_HEAD = f"""\
# Hjem broker ACL (Mosquitto acl_file). Install as /etc/mosquitto/hjem.acl.
# Generated by `hjem admin render-acl` (hub/admin/provision.py: render_acl); edit there, not here.
# Static: adding a gateway or vendor needs no change here, only a password-file entry, because
# every publisher's rights are `pattern` lines keyed on its MQTT username (%u = publisher id).
# Anything not granted below is denied: such publishes are dropped, and such subscriptions are
# granted by Mosquitto 2.0 but never deliver a message (retained or live).

# --- every publisher (gateway or vendor): its own topics only -------------------------------
# observations and status (birth message and Last Will, retained) out ...
pattern write {PREFIX}/%u/obs
pattern write {PREFIX}/%u/status
# ... and the hub's rejections of its own messages in.
pattern read {PREFIX}/%u/errors
"""

_ACL_HUB_HEAD = """
# --- the hub: a login per hub process ("hub", or "hub-<node>" for several) and one for its
# alert publisher ("<login>-alerts"), because the broker binds client ids to logins. No
# publisher may use these names.
"""

_ACL_HUB = f"""user {{hub}}
# every publisher's observations and status (also through $share/<group>/...)
topic read {PREFIX}/+/obs
topic read {PREFIX}/+/status
# rejections back to any publisher
topic write {PREFIX}/+/errors
# alerts: the hub publishes them (retained) and other hub processes read them
topic readwrite {PREFIX}/hub/alerts/#
# broker health, e.g. $SYS/broker/publish/messages/dropped
topic read $SYS/#
user {{alerts}}
topic readwrite {PREFIX}/hub/alerts/#
"""

_ACL_READERS = """
# --- alert consumers (nurse-call bridges, pagers): read alerts, nothing else ----------------
# Gateways and vendors are never listed here: an alert names a resident of some other home.
{blocks}"""


def render_acl(
    hub_user: str | Iterable[str] = HUB_USERNAME, alert_readers: Iterable[str] = ()
) -> str:
    """The ACL file text. With the defaults it is ``deploy/mosquitto/hjem.acl`` byte for byte.

    ``hub_user``: the hub logins, one per hub process (``hub``, ``hub-<node>``).
    """
    hubs = [hub_user] if isinstance(hub_user, str) else list(dict.fromkeys(hub_user))
    if not hubs:
        raise ProvisionError("the ACL needs at least one hub login")
    readers = [check_username(name) for name in alert_readers]
    text = _ACL_HEAD + _ACL_HUB_HEAD
    text += "".join(
        _ACL_HUB.format(hub=check_hub_login(hub), alerts=alerts_login(hub)) for hub in hubs
    )
    if readers:
        blocks = "".join(
            f"user {name}\ntopic read {PREFIX}/hub/alerts/#\n" for name in sorted(set(readers))
        )
        text += _ACL_READERS.format(blocks=blocks)
    return text


# --- loopback variant of mosquitto.conf (pure) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class LoopbackLayout:
    """Where the loopback variant listens and finds its files (all under one directory)."""

    plain_port: int
    tls_port: int
    password_file: Path
    acl_file: Path
    persistence_dir: Path
    cafile: Path
    certfile: Path
    keyfile: Path
    pid_file: Path | None = None  # None: no PID file
    run_as: str = ""  # empty: the current user (a broker started as root stays root)


_PATH_OPTIONS = ("password_file", "acl_file", "cafile", "certfile", "keyfile")


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _render_line(number: int, line: str, layout: LoopbackLayout) -> str | None:
    words = line.split()
    if not words or words[0].startswith("#"):
        return line
    option = words[0]
    if option == "listener":
        port = int(words[1]) if len(words) > 1 and words[1].isdigit() else -1
        if port not in PRODUCTION_PORTS:
            raise TemplateError(number, line, f"listener port must be one of {PRODUCTION_PORTS}")
        new_port = layout.plain_port if port == PLAIN_PORT else layout.tls_port
        return f"listener {new_port} 127.0.0.1"
    if option == "pid_file":
        return f"pid_file {layout.pid_file}" if layout.pid_file else None
    if option == "user":
        return f"user {layout.run_as or _current_user()}"
    if option == "persistence_location":
        return f"persistence_location {layout.persistence_dir}/"
    if option in _PATH_OPTIONS:
        return f"{option} {getattr(layout, option)}"
    if _SYSTEM_PATH.search(line):
        raise TemplateError(number, line, "a system path the loopback variant does not replace")
    return line


def render_loopback(conf_text: str, layout: LoopbackLayout) -> str:
    """The shipped configuration moved onto loopback ports and the layout's files.

    Only ``listener``, ``pid_file``, ``user``, ``persistence_location`` and the file options
    change; every other line (limits, TLS and authentication options) is kept as written.
    """
    rendered = [_render_line(n, line, layout) for n, line in enumerate(conf_text.splitlines(), 1)]
    listeners = sum(1 for line in rendered if line and line.startswith("listener "))
    if listeners != len(PRODUCTION_PORTS):
        raise TemplateError(0, "", f"expected {len(PRODUCTION_PORTS)} listeners, found {listeners}")
    return "\n".join(line for line in rendered if line is not None) + "\n"


# --- password file (I/O shell) -----------------------------------------------------------------


def _mosquitto_passwd() -> str:
    found = shutil.which("mosquitto_passwd")
    if found is None:
        raise MosquittoPasswdError("-", "mosquitto_passwd is not installed (apt install mosquitto)")
    return found


def broker_users(password_file: Path) -> list[str]:
    """The usernames in a Mosquitto password file, in file order."""
    try:
        text = password_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BrokerFileError(password_file, exc.strerror or str(exc)) from exc
    return [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]


def _run_passwd(args: list[str], username: str, stdin: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary, validated username
            [_mosquitto_passwd(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MosquittoPasswdError(username, str(exc)) from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise MosquittoPasswdError(username, detail[-1] if detail else f"exit {done.returncode}")


def _create_password_file(password_file: Path) -> None:
    """An empty password file, mode 0640; as root, group ``mosquitto`` so the broker reads it
    after dropping privileges (``mosquitto_passwd`` keeps owner and mode when it rewrites)."""
    try:
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.touch(mode=0o640)
        password_file.chmod(0o640)
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError):
                os.chown(password_file, 0, grp.getgrnam(BROKER_GROUP).gr_gid)
    except OSError as exc:
        raise BrokerFileError(password_file, exc.strerror or str(exc)) from exc


def _logins(username: str) -> list[str]:
    """The password-file entries behind a username: a hub login brings its alerts login."""
    return [username, alerts_login(username)] if _hub_node_login(username) else [username]


def add_broker_user(password_file: Path, username: str, password: str) -> None:
    """Add ``username`` (or replace its password) in the password file, creating it 0640.

    A hub login (``hub``, ``hub-<node>``) also gets its ``-alerts`` login, same password.
    """
    check_username(username, allow_hub=True)
    if not password or "\n" in password:
        raise ProvisionError(f"password for {username!r} must be one non-empty line")
    if not password_file.exists():
        _create_password_file(password_file)
    # mosquitto_passwd asks twice; reading it from stdin keeps it out of `ps` and shell history.
    for login in _logins(username):
        _run_passwd([str(password_file), login], login, f"{password}\n{password}\n")


def remove_broker_user(password_file: Path, username: str) -> bool:
    """Delete ``username`` (a hub login: with its alerts login); False if it was not there."""
    present = broker_users(password_file)
    if username not in present:
        return False
    for login in _logins(username):
        if login in present:
            _run_passwd(["-D", str(password_file), login], login, "")
    return True


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the broker whose PID is in ``pid_file`` (it re-reads password and ACL)."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise BrokerFileError(pid_file, f"no broker PID in it ({exc})") from exc
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise BrokerFileError(pid_file, f"cannot signal PID {pid}: {exc.strerror}") from exc
    return pid
