"""The shipped broker configuration running for real on 127.0.0.1, and short-timeout MQTT clients.

:func:`start_secure_broker` makes certificates with ``deploy/certs/make-certs.sh``, writes
password-file entries with ``hub.admin.provision.add_broker_user`` and starts Mosquitto with the
loopback variant of ``deploy/mosquitto/mosquitto.conf`` and the shipped ``hjem.acl``.
"""

from __future__ import annotations

import queue
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hjem.mosquitto import Mosquitto, free_port
from hub.admin.provision import (
    DEPLOY_DIR,
    SHIPPED_ACL,
    SHIPPED_CONF,
    LoopbackLayout,
    add_broker_user,
    render_loopback,
)

MAKE_CERTS = DEPLOY_DIR / "certs" / "make-certs.sh"
TIMEOUT_S = 5.0


def make_certs(directory: Path, *client_ids: str, force: bool = False) -> str:
    args = ["sh", str(MAKE_CERTS), "-d", str(directory), "-H", "localhost"]
    if force:
        args.append("-f")
    done = subprocess.run(
        [*args, *client_ids], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def for_client(cls, certs: Path, client_id: str) -> TlsFiles:
        return cls(
            certs / "ca.crt",
            certs / "clients" / f"{client_id}.crt",
            certs / "clients" / f"{client_id}.key",
        )


@dataclass
class SecureBroker:
    broker: Mosquitto
    layout: LoopbackLayout
    certs: Path
    passwords: dict[str, str]

    @property
    def plain_port(self) -> int:
        return self.layout.plain_port

    @property
    def tls_port(self) -> int:
        return self.layout.tls_port


def start_secure_broker(
    root: Path, users: dict[str, str], *, acl_text: str | None = None
) -> SecureBroker:
    """The shipped configuration on loopback ports; ``acl_text``: an ACL rendered by
    ``hub.admin.provision.render_acl`` instead of the shipped file (e.g. for several hub logins)."""
    certs = root / "certs"
    make_certs(certs, *users)
    (root / "data").mkdir(parents=True, exist_ok=True)
    acl_file = SHIPPED_ACL
    if acl_text is not None:
        acl_file = root / "hjem.acl"
        acl_file.write_text(acl_text, encoding="utf-8")
    layout = LoopbackLayout(
        plain_port=free_port(),
        tls_port=free_port(),
        password_file=root / "hjem.passwd",
        acl_file=acl_file,
        persistence_dir=root / "data",
        cafile=certs / "ca.crt",
        certfile=certs / "server.crt",
        keyfile=certs / "server.key",
        pid_file=root / "mosquitto.pid",
    )
    for username, password in users.items():
        add_broker_user(layout.password_file, username, password)
    text = render_loopback(SHIPPED_CONF.read_text(encoding="utf-8"), layout)
    broker = Mosquitto(workdir=root / "run", port=layout.plain_port, config_text=text)
    broker.start()
    return SecureBroker(broker=broker, layout=layout, certs=certs, passwords=dict(users))


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool


@dataclass
class Client:
    """A connected paho client (MQTT 5) with its own network thread and inboxes."""

    paho: mqtt.Client
    messages: queue.Queue[Received] = field(default_factory=queue.Queue)
    subacks: queue.Queue[list[ReasonCode]] = field(default_factory=queue.Queue)
    pubacks: queue.Queue[tuple[int, ReasonCode]] = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)
    disconnect_reason: list[ReasonCode] = field(default_factory=list)

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        self.paho.subscribe(topic, qos)
        return self.subacks.get(timeout=TIMEOUT_S)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(TIMEOUT_S)
        return info.mid

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 1) -> int:
        return self.paho.publish(topic, payload, qos=qos).mid

    def puback_reason(self, mid: int) -> ReasonCode:
        while True:
            got, reason = self.pubacks.get(timeout=TIMEOUT_S)
            if got == mid:
                return reason

    def next_message(self, timeout: float = TIMEOUT_S) -> Received:
        return self.messages.get(timeout=timeout)

    def drain(self) -> list[Received]:
        out: list[Received] = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


class _TrackingContext(ssl.SSLContext):
    """Remembers the sockets it wrapped, so a failed handshake's socket can be closed."""

    sockets: list[ssl.SSLSocket]

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        wrapped = super().wrap_socket(*args, **kwargs)
        if not hasattr(self, "sockets"):
            self.sockets = []
        self.sockets.append(wrapped)
        return wrapped


@dataclass
class ConnectResult:
    client: Client | None
    reason: str


def connect(
    port: int,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: TlsFiles | None = None,
) -> ConnectResult:
    """Connect and wait for CONNACK; ``client`` is None if the broker or TLS refused."""
    paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client = Client(paho)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        outcome.setdefault("rc", rc)
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        outcome.setdefault("rc", rc)
        outcome["disconnected"] = True
        client.disconnect_reason.append(rc)
        client.disconnected.set()
        done.set()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        client.messages.put(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on_subscribe(_c: Any, _u: Any, _m: int, codes: list[ReasonCode], _p: Any) -> None:
        client.subacks.put(list(codes))

    def on_publish(_c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Properties) -> None:
        client.pubacks.put((mid, rc))

    paho.on_connect = on_connect
    paho.on_disconnect = on_disconnect
    paho.on_message = on_message
    paho.on_subscribe = on_subscribe
    paho.on_publish = on_publish
    if username is not None:
        paho.username_pw_set(username, password)
    context = _TrackingContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls is not None:
        context.load_verify_locations(cafile=str(tls.cafile))
        if tls.certfile and tls.keyfile:
            context.load_cert_chain(str(tls.certfile), str(tls.keyfile))
        paho.tls_set_context(context)
    try:
        paho.connect("127.0.0.1", port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        for sock in getattr(
            context, "sockets", []
        ):  # paho leaves a socket whose handshake failed open
            sock.close()
        return ConnectResult(None, f"{type(exc).__name__}: {exc}")
    paho.loop_start()
    if not done.wait(TIMEOUT_S):
        paho.disconnect()
        paho.loop_stop()
        return ConnectResult(None, "no CONNACK")
    rc = outcome["rc"]
    if outcome.get("disconnected") or rc.is_failure:
        paho.disconnect()
        paho.loop_stop()
        return ConnectResult(None, str(rc))
    return ConnectResult(client, str(rc))
