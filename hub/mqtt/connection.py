"""The hub's MQTT connection: paho-mqtt 2.x, persistent session, QoS 1, manual acknowledgement.

Processes (see docs/hub.md): the paho client runs in a child process, the *relay*
(:mod:`hub.mqtt.relay`), so that paho's per-message Python work and the hub's validation and
storage use two interpreters and two cores instead of sharing one GIL. :meth:`start` starts
it (``python -m hub.mqtt.relay``) over a private ``socket.socketpair()``, sends the settings
as the first frame, and returns once the broker acknowledged the subscriptions (SUBACK).

The asyncio side reads the socket only from the event loop (``loop.sock_recv`` and
non-blocking reads; no thread): every complete frame in a chunk is parsed at once, messages
go into a queue, and the socket is not read while the queue holds ``ingest.queue_size``
messages (it may overshoot by one read of at most ``READ_CHUNK`` bytes), so the relay's send
blocks, paho stops reading, and TCP pushes back on the broker. MQTT 5 Receive Maximum
(``min(receive_maximum, queue_size)``) holds the broker while nothing is acknowledged.

Acknowledgements (:meth:`ack`, after the commit) and rejections (:meth:`publish`, QoS 1) are
frames to the relay. Acknowledgements carry the connection generation: a message received on
an earlier connection is never acknowledged on a later one (checked here and in the relay;
the broker redelivers it and dedup by observation id makes that harmless).

The relay never outlives the hub: it gets SIGTERM when the hub process dies (Linux parent-
death signal) and exits when its socket reaches EOF. If it dies, :meth:`batches` raises
:class:`~hub.errors.MqttError` naming its exit status. :meth:`stop` asks it to disconnect,
waits a bounded time, then kills it by its PID and reaps it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from foundation.process import die_with_parent
from hub.config import IngestSettings, MqttSettings
from hub.errors import MqttError
from hub.mqtt.frames import READ_CHUNK, FrameBuffer, RelayConfig, encode_frame
from hub.mqtt.inbound import Inbound
from schemas.topics import OBSERVATIONS_FILTER, STATUS_FILTER, shared

__all__ = ["AckHandle", "MqttConnection"]

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 3.0
EXIT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class AckHandle:
    mid: int
    qos: int
    generation: int


def _exit_text(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _spawn_relay(url: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``python -m hub.mqtt.relay`` on one end of a new socketpair; return the other."""
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "hub.mqtt.relay", "--fd", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - called from the event loop's thread
        )
    except OSError as exc:
        ours.close()
        raise MqttError(url, f"cannot start the MQTT relay process: {exc}") from exc
    finally:
        theirs.close()
    ours.setblocking(False)  # noqa: FBT003 - read from the event loop
    return proc, ours


class MqttConnection:
    """Subscribe to observations and status; yield batches; ack after commit; publish."""

    def __init__(
        self, settings: MqttSettings, ingest: IngestSettings, *, judge: str | None = None
    ) -> None:
        """``judge``: ``"module:function"`` the relay runs on large messages (RelayConfig.judge)."""
        self._settings = settings
        self._ingest = ingest
        self._judge = judge
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._frames = FrameBuffer()
        self._queue: collections.deque[Inbound] = collections.deque()
        self._out = bytearray()  # frames the relay's socket did not take yet
        self._writing = False
        self._eof = False
        self._generation = 0
        self._connected = False
        self._subscribed = False
        self._session_present = False
        self._refused: str | None = None
        self._fatal: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected and self._proc is not None and not self._eof

    @property
    def backlog(self) -> int:
        """Messages received from the relay and not yet handed to a commit."""
        return len(self._queue)

    @property
    def oldest_waiting(self) -> datetime | None:
        """When the oldest message waiting for its commit arrived (None: none waits)."""
        return self._queue[0].received if self._queue else None

    @property
    def generation(self) -> int:
        """The connection's number: 1 for the first CONNACK, one more for each reconnect."""
        return self._generation

    @property
    def subscribed(self) -> bool:
        """True once the broker acknowledged the subscriptions of the current connection."""
        return self._subscribed and self.connected

    @property
    def subscriptions(self) -> list[str]:
        obs = OBSERVATIONS_FILTER
        if self._settings.shared_group:
            obs = shared(self._settings.shared_group, obs)
        return [obs, STATUS_FILTER]

    @property
    def relay_pid(self) -> int | None:
        """The relay process's PID while it runs (for logs and tests)."""
        return self._proc.pid if self._proc is not None else None

    def _relay_config(self) -> RelayConfig:
        s = self._settings
        tls = s.tls
        return RelayConfig(
            host=s.host,
            port=s.port,
            client_id=s.client_id,
            protocol=s.protocol,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            tls=s.uses_tls,
            ca_file=str(tls.ca_file) if tls and tls.ca_file else None,
            cert_file=str(tls.cert_file) if tls and tls.cert_file else None,
            key_file=str(tls.key_file) if tls and tls.key_file else None,
            keepalive_s=s.keepalive_s,
            session_expiry_s=s.session_expiry_s,
            receive_maximum=min(s.receive_maximum, self._ingest.queue_size),
            subscriptions=self.subscriptions,
            log_level=logging.getLogger("hub.mqtt.relay").getEffectiveLevel(),
            prejudge_min_bytes=self._ingest.judge_in_relay_min_bytes,
            judge=self._judge,
            heartbeat_s=s.relay_silence_s / 6,
        )

    async def start(self) -> None:
        """Start the relay, connect (persistent session), wait until subscribed.

        Waiting for the SUBACK, not only the CONNACK, matters on a hub's very first start:
        before its subscription exists, the broker has no session to queue messages in. A
        resumed session (CONNACK with session present) already holds the subscriptions, and
        the broker sends its queued messages at once, ahead of the SUBACK of the renewed
        subscriptions; waiting for that SUBACK would hold every backlog message in the relay
        before the first commit, so start() returns at such a CONNACK.
        """
        self._loop = asyncio.get_running_loop()
        url = self._settings.url
        self._proc, self._sock = _spawn_relay(url)
        self._send(encode_frame(self._relay_config()))
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await self._until_subscribed()
        except TimeoutError as exc:
            self.stop()
            raise MqttError(url, f"no CONNACK and SUBACK within {START_TIMEOUT_S:.0f} s") from exc
        except BaseException:
            self.stop()
            raise

    async def _until_subscribed(self) -> None:
        while not self._subscribed and not (self._connected and self._session_present):
            if self._refused is not None:
                raise MqttError(self._settings.url, self._refused)
            await self._read()

    def stop(self) -> None:
        """Ask the relay to disconnect; after STOP_TIMEOUT_S kill it by its PID; reap it."""
        proc, sock = self._proc, self._sock
        self._proc = self._sock = None
        if sock is not None:
            if self._writing and self._loop is not None:
                self._loop.remove_writer(sock.fileno())
                self._writing = False
            deadline = time.monotonic() + STOP_TIMEOUT_S
            try:
                sock.settimeout(STOP_TIMEOUT_S)
                sock.sendall(bytes(self._out) + encode_frame(("stop",)))
                while (left := deadline - time.monotonic()) > 0:  # let a blocked relay finish
                    sock.settimeout(left)
                    if not sock.recv(READ_CHUNK):
                        break
            except OSError:
                pass  # gone already, or timed out: killed below
            finally:
                self._out.clear()
                sock.close()
        if proc is not None:
            try:
                proc.wait(timeout=max(0.1, STOP_TIMEOUT_S / 3))
            except subprocess.TimeoutExpired:
                log.warning("the MQTT relay (pid %d) did not stop; killing it", proc.pid)
                proc.kill()
                proc.wait()
        self._connected = self._subscribed = False

    # -- reading the relay (event loop) ----------------------------------------------------

    async def _read(self) -> None:
        """Wait for bytes from the relay and take them in; raise MqttError if it is gone."""
        sock = self._sock
        if sock is None:
            raise MqttError(self._settings.url, "the MQTT connection is stopped")
        assert self._loop is not None
        silence = self._settings.relay_silence_s
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that meets a completed read, and the hub would never stop.
            async with asyncio.timeout(silence):
                data = b"" if self._eof else await self._loop.sock_recv(sock, READ_CHUNK)
        except TimeoutError:
            pid = self._proc.pid if self._proc is not None else "?"
            self.stop()  # a stuck relay is killed by its PID after STOP_TIMEOUT_S
            raise MqttError(
                self._settings.url,
                f"the MQTT relay process (pid {pid}) sent nothing for {silence:g} s; stopped it",
            ) from None
        if not data:
            self._eof = True
            await self._relay_gone()
        self._take(data)

    def _read_ready(self) -> None:
        """Take what the relay already sent, without waiting, up to about one group.

        Reading stops after a group's worth of bytes (``max_batch_bytes``) or messages, so
        that the group is committed while the relay goes on: reading all that is there
        while the relay keeps sending would leave the relay waiting during every commit.
        """
        sock = self._sock
        limit = min(self._ingest.queue_size, self._ingest.max_batch_messages)
        budget = self._ingest.max_batch_bytes
        while sock is not None and not self._eof and len(self._queue) < limit and budget > 0:
            try:
                data = sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._eof = True  # raised by _read() once the queue is empty
                return
            budget -= len(data)
            self._take(data)

    async def _relay_gone(self) -> None:
        proc = self._proc
        code = None
        if proc is not None:
            deadline = time.monotonic() + EXIT_WAIT_S
            while (code := proc.poll()) is None and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # its socket closed: the exit follows at once
        pid = proc.pid if proc is not None else "?"
        detail = f"the MQTT relay process (pid {pid}) {_exit_text(code)}"
        if self._fatal:
            detail += f": {self._fatal}"
        self._connected = self._subscribed = False
        raise MqttError(self._settings.url, detail)

    def _take(self, data: bytes) -> None:
        try:
            frames = self._frames.feed(data)
        except ValueError as exc:
            raise MqttError(self._settings.url, f"garbled data from the MQTT relay: {exc}") from exc
        received = datetime.now(UTC)
        append = self._queue.append
        for frame in frames:
            if frame[0] == "m":
                for topic, payload, retain, mid, qos, generation, verdict in frame[1]:
                    handle = AckHandle(mid, qos, generation)
                    append(Inbound(topic, payload, received, "mqtt", retain, handle, verdict))
            else:
                self._control(frame)

    def _control(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == "connected":
            self._generation = frame[1]
            self._connected = True
            self._session_present = bool(frame[2])
            self._subscribed = False
            self._refused = None
        elif kind == "subscribed":
            self._subscribed = frame[1] == self._generation
        elif kind == "disconnected":
            self._connected = self._subscribed = False
        elif kind == "refused":
            self._refused = frame[1]
            if self._connected:  # after start(): the session's earlier subscriptions remain
                log.error("MQTT: %s", frame[1])
        elif kind == "fatal":
            self._fatal = frame[1]
        elif kind == "alive":
            pass  # the relay's heartbeat: any frame resets the hub's wait
        else:
            log.error("unknown frame from the MQTT relay: %r", kind)

    # -- asyncio side ----------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[Inbound]]:
        """Groups of waiting messages (at least one; at most the configured limits)."""
        limit_msgs = self._ingest.max_batch_messages
        limit_bytes = self._ingest.max_batch_bytes
        queue = self._queue
        while True:
            while not queue:
                await self._read()
            self._read_ready()
            first = queue.popleft()
            group = [first]
            size = len(first.payload)
            while queue and len(group) < limit_msgs and size < limit_bytes:
                item = queue.popleft()
                group.append(item)
                size += len(item.payload)
            yield group

    def ack(self, inbounds: list[Inbound]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        done = 0
        current = self._generation
        items: list[tuple[int, int, int]] = []
        for inbound in inbounds:
            handle = inbound.handle
            if isinstance(handle, AckHandle) and handle.generation == current:
                if handle.qos > 0:
                    items.append((handle.mid, handle.qos, current))
                done += 1
        if items:
            self._send(encode_frame(("a", items)))
        return done

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1 through the relay (paho queues it while disconnected)."""
        self._send(encode_frame(("p", topic, payload, retain)))

    # -- writing to the relay (event loop) -------------------------------------------------

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None or self._eof:
            return  # stopped or gone: nothing acknowledged, the broker redelivers
        if self._out:
            self._out += data
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return  # the relay is gone; batches() reports it
        if sent < len(data):
            self._out += data[sent:]
            assert self._loop is not None
            self._loop.add_writer(sock.fileno(), self._write_more)
            self._writing = True

    def _write_more(self) -> None:
        sock = self._sock
        try:
            sent = sock.send(self._out) if sock is not None else len(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            sent = len(self._out)
        del self._out[:sent]
        if not self._out and sock is not None and self._loop is not None:
            self._loop.remove_writer(sock.fileno())
            self._writing = False
