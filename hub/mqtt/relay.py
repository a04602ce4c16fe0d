"""The MQTT relay: the hub's paho-mqtt client in a child process of its own.

Started by :class:`hub.mqtt.connection.MqttConnection` as ``python -m hub.mqtt.relay --fd N``,
where ``N`` is the child's end of a private ``socket.socketpair()``. The first frame on that
socket is the :class:`RelayConfig` (the password and TLS file paths never appear in argv or
the environment). paho's network thread (``loop_start``) then connects with a persistent
session, subscribes, and forwards every message to the hub; the main thread reads the hub's
acknowledgements, publications and the stop request.

The frames are listed in :mod:`hub.mqtt.frames`.

With ``prejudge_min_bytes`` set in the configuration, ``on_message`` also runs the ingest fast
path on each observation message of at least that size (:mod:`hub.ingest.verdicts`): pure work, on
this process's core, that the hub then does not have to do. Small messages are left to the
hub: for them paho's own handling (about 100 µs a message) already makes this process the
slower of the two, while for large ones the hub's commit is.

Messages are collected in ``on_message`` and sent in one frame when paho's socket has
nothing more to read (or 512 messages / 1 MiB are waiting): one frame per read burst. A
writer thread (:class:`~hub.mqtt.frames.FrameWriter`) sends the frames, so that paho's
thread goes on reading and judging while the hub commits; when 32 MiB are waiting for the
hub, paho's thread waits, stops reading the broker's socket, and TCP pushes back.
Acknowledgements of an earlier connection (generation) are dropped here too.

The relay exits when the hub asks it to, when its end of the socket reaches EOF (the hub is
gone), and on SIGTERM when the hub process died (Linux parent-death signal, set by the hub).
A SIGTERM or SIGINT sent to the whole process group while the hub lives (``systemctl stop``,
Ctrl-C) is ignored: the hub then stops its relay itself, after a clean disconnect.
Exit codes: 0 stopped, 2 unusable configuration (e.g. a TLS file), 1 anything unexpected.
"""

from __future__ import annotations

import importlib
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from foundation.clock import utcnow
from hub.mqtt.frames import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNEXPECTED,
    FLUSH_BYTES,
    FLUSH_MESSAGES,
    MAX_FRAME_BYTES,
    READ_CHUNK,
    FrameBuffer,
    FrameWriter,
    RelayConfig,
    encode_frame,
)
from hub.mqtt.liveness import STUCK_AFTER_MIN_S, Progress
from hub.runtime import tune_gc

__all__ = ["Relay", "main", "run"]

Judge = Callable[..., bytes | None]
"""``judge(topic, payload, *, now) -> verdict bytes or None`` (RelayConfig.judge)."""

log = logging.getLogger("hub.mqtt.relay")


class _Client(paho.Client):
    """paho's client with a hook after each read: the relay flushes at the end of a burst.

    It also counts the network loop's iterations (``loop_misc`` runs once per iteration), so
    that the relay's main thread can tell a stuck network thread (:mod:`hub.mqtt.liveness`).
    """

    after_read: Any = None
    iterations = 0

    def loop_misc(self) -> MQTTErrorCode:
        self.iterations += 1
        return super().loop_misc()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        if self.after_read is not None:
            self.after_read()
        return rc


class Relay:
    """The paho client and the hub's socket, in the relay process."""

    def __init__(self, sock: socket.socket, config: RelayConfig) -> None:
        self._sock = sock
        self._config = config
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()  # generation and liveness vs. acknowledgements
        self._generation = 0
        self._live = False
        self._stopping = False
        self._writer = FrameWriter(sock)
        stuck_after = max(6 * config["heartbeat_s"], STUCK_AFTER_MIN_S)  # paho: a loop per second
        self._progress = Progress(config["heartbeat_s"], stuck_after_s=stuck_after)
        self._pending: list[tuple[str, bytes, bool, int, int, int, bytes | None]] = []
        least = config["prejudge_min_bytes"]
        self._judge = _load_judge(config["judge"]) if least is not None else None
        judging = self._judge is not None and least is not None
        self._prejudge_from = least if judging and least is not None else MAX_FRAME_BYTES
        self._pending_bytes = 0
        self._poll_fd = -1
        self._poller = select.poll()
        self._client = self._make_client()

    def _make_client(self) -> _Client:
        c = self._config
        v5 = c["protocol"] == "5"
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=c["client_id"],
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if c["username"]:
            client.username_pw_set(c["username"], c["password"])
        if c["tls"]:
            client.tls_set(  # raises for unreadable files: reported as fatal by main()
                ca_certs=c["ca_file"],
                certfile=c["cert_file"],
                keyfile=c["key_file"],
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(100)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.after_read = self._after_read
        return client

    def start(self) -> None:
        c = self._config
        props = None
        if c["protocol"] == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = c["session_expiry_s"]
            props.ReceiveMaximum = c["receive_maximum"]
        self._client.connect_async(
            c["host"],
            c["port"],
            keepalive=c["keepalive_s"],
            clean_start=False if c["protocol"] == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self._client.loop_start()

    # -- to the hub (paho thread, except fatal) ----------------------------------------------

    def send(self, frame: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._flush_locked()
            self._write_locked(encode_frame(frame))

    def _write_locked(self, data: bytes) -> None:
        self._writer.put(data)  # the hub gone: dropped; EOF on the main thread ends the relay

    def _flush_locked(self) -> None:
        if self._pending:
            items, self._pending, self._pending_bytes = self._pending, [], 0
            self._write_locked(encode_frame(("m", items)))

    def _more_to_read(self) -> bool:
        sock = self._client.socket()
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        fd = sock.fileno()
        if fd != self._poll_fd:
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)
            self._poll_fd = fd
        return bool(self._poller.poll(0))

    def _after_read(self) -> None:
        if self._pending and not self._more_to_read():
            with self._send_lock:
                self._flush_locked()

    # -- paho callbacks (paho thread) ------------------------------------------------------

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        del client, userdata
        payload, topic = bytes(msg.payload), msg.topic
        judged = None
        if len(payload) >= self._prejudge_from and self._judge is not None:
            judged = self._judge(topic, payload, now=utcnow())
        self._pending.append(
            (topic, payload, bool(msg.retain), msg.mid, msg.qos, self._generation, judged)
        )
        self._pending_bytes += len(payload)
        if len(self._pending) >= FLUSH_MESSAGES or self._pending_bytes >= FLUSH_BYTES:
            with self._send_lock:
                self._flush_locked()

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        del userdata, properties
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            self.send(("refused", f"the broker refused the connection: {reason}"))
            return
        with self._state_lock:
            self._generation += 1
            self._live = True
            generation = self._generation
        log.info("MQTT connected (session present: %s)", flags.session_present)
        self.send(("connected", generation, bool(flags.session_present)))
        if self._config["protocol"] == "5":
            opts = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
            client.subscribe([(topic, opts) for topic in self._config["subscriptions"]])
        else:
            client.subscribe([(topic, 1) for topic in self._config["subscriptions"]])

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        del client, userdata
        c = self._config
        log.warning("MQTT connection to %s:%d failed; retrying", c["host"], c["port"])

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        del client, userdata, mid, properties
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            text = ", ".join(refused)
            log.error("MQTT subscription refused by the broker: %s", text)
            self.send(("refused", f"the broker refused the subscription: {text}"))
            return
        self.send(("subscribed", self._generation))

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        del client, userdata, flags, properties
        with self._state_lock:
            self._live = False
        if not self._stopping:
            log.warning("MQTT disconnected (%s); reconnecting", reason)
        self.send(("disconnected", str(reason)))

    # -- from the hub (main thread) --------------------------------------------------------

    def serve(self) -> int:
        """Handle the hub's frames until it asks to stop or goes away; then disconnect.

        Between frames, every ``heartbeat_s``: tell the hub this process lives, and check
        that paho's network thread makes progress (:mod:`hub.mqtt.liveness`).
        """
        frames = FrameBuffer()
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        while not self._stopping:
            ready = poller.poll(self._config["heartbeat_s"] * 1000)
            self._heartbeat()
            if not ready:
                continue
            try:
                data = self._sock.recv(READ_CHUNK)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                log.info("the hub closed its end of the relay socket; stopping")
                break
            for frame in frames.feed(data):
                self._handle(frame)
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._writer.close()
        return EXIT_OK

    def _heartbeat(self) -> None:
        verdict = self._progress.tick(
            time.monotonic(),
            count=self._client.iterations,
            connected=self._client.is_connected(),
            waiting_for_hub=self._writer.full,
        )
        if verdict == "alive":
            self.send(("alive",))
        elif verdict == "stuck":
            text = f"paho's network thread made no progress for {self._progress.stuck_after_s} s"
            log.critical("%s; exiting", text)
            self.send(("fatal", text))
            self._writer.close()
            logging.shutdown()
            os._exit(EXIT_UNEXPECTED)

    def _handle(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == "a":
            ack = self._client.ack
            with self._state_lock:
                if not self._live:
                    return  # the broker redelivers after the reconnect
                current = self._generation
                for mid, qos, generation in frame[1]:
                    if generation == current:
                        ack(mid, qos)
        elif kind == "p":
            _, topic, payload, retain = frame
            self._client.publish(topic, payload, qos=1, retain=retain)
        elif kind == "stop":
            self._stopping = True
        else:
            log.error("unknown frame from the hub: %r", kind)


def _read_config(sock: socket.socket) -> RelayConfig:
    frames = FrameBuffer()
    while True:
        data = sock.recv(READ_CHUNK)
        if not data:
            raise EOFError("the hub closed the relay socket before sending the configuration")
        received = frames.feed(data)
        if received:
            config: RelayConfig = received[0]
            return config


def _uncaught(args: threading.ExceptHookArgs) -> None:
    """An exception in paho's thread leaves no network loop: end the relay, the hub sees it."""
    info = (args.exc_type, args.exc_value, args.exc_traceback)
    log.critical("MQTT relay thread failed", exc_info=info)  # type: ignore[arg-type]
    logging.shutdown()
    os._exit(EXIT_UNEXPECTED)


def _tls_problem(config: RelayConfig, exc: BaseException) -> str:
    files = ", ".join(f"{k} {config[k]}" for k in ("ca_file", "cert_file", "key_file") if config[k])
    return f"cannot use the TLS files ({files or 'system CA certificates'}): {exc}"


def _load_judge(target: str | None) -> Judge | None:
    """The judge named ``"module:function"`` in the configuration (see RelayConfig.judge)."""
    if target is None:
        return None
    module_name, _, attribute = target.partition(":")
    judge: Judge = getattr(importlib.import_module(module_name), attribute)
    return judge


def run(sock: socket.socket) -> int:
    config = _read_config(sock)
    from foundation.logs import configure_logging, format_from_env

    configure_logging(config["log_level"], format_from_env())  # the hub's log_format
    if config["prejudge_min_bytes"] is not None:
        tune_gc()
    try:
        relay = Relay(sock, config)
    except (OSError, ValueError, ssl.SSLError) as exc:
        text = _tls_problem(config, exc) if config["tls"] else f"bad MQTT settings: {exc}"
        log.error("%s", text)  # noqa: TRY400 - the text says it all
        sock.sendall(encode_frame(("fatal", text)))
        return EXIT_CONFIG
    try:
        relay.start()
    except (OSError, ValueError) as exc:
        sock.sendall(encode_frame(("fatal", f"cannot connect: {exc}")))
        return EXIT_CONFIG
    return relay.serve()


def main(argv: list[str] | None = None) -> int:
    """``python -m hub.mqtt.relay --fd N``: N is the relay's end of the hub's socketpair."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--fd" or not args[1].isdigit():
        print("usage: python -m hub.mqtt.relay --fd N (started by the hub)", file=sys.stderr)
        return EXIT_UNEXPECTED
    hub_pid = os.getppid()

    def on_sigterm(signum: int, frame: object) -> None:
        del signum, frame
        if os.getppid() != hub_pid:  # the parent-death signal: the hub is gone
            os._exit(EXIT_OK)
        # Otherwise a signal to the whole group (systemd stop, Ctrl-C): the hub stops its relay.

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm)
    threading.excepthook = _uncaught
    with socket.socket(fileno=int(args[1])) as sock:
        try:
            return run(sock)
        except EOFError as exc:
            print(f"hub.mqtt.relay: {exc}", file=sys.stderr)
            return EXIT_UNEXPECTED


if __name__ == "__main__":
    raise SystemExit(main())
