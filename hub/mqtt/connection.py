"""The hub's MQTT connection: paho-mqtt 2.x, persistent session, QoS 1, manual acknowledgement.

Processes (see docs/hub.md): the paho client runs in a child process, the *relay*
(:mod:`hub.mqtt.relay`), so that paho's per-message Python work and the hub's validation and
storage use two interpreters and two cores instead of sharing one GIL. :meth:`start` starts
it (``python -m hub.mqtt.relay``) over a private ``socket.socketpair()``, sends the settings
as the first frame, and returns once the broker acknowledged the subscriptions (SUBACK).

The asyncio side reads the socket only from the event loop (a reader callback and
non-blocking reads; no thread): every complete frame in a chunk is parsed at once, messages
go into a queue, and the socket is not read while the queue holds ``ingest.queue_size``
messages (it may overshoot by one read of at most ``READ_CHUNK`` bytes), so the relay's send
blocks, paho stops reading, and TCP pushes back on the broker. MQTT 5 Receive Maximum
(``min(receive_maximum, queue_size)``) holds the broker while nothing is acknowledged.
The reader takes in what the relay sends whenever the event loop is free, also while the
ingest loop waits on a commit's listeners, so :attr:`backlog` (messages received and not yet
acknowledged) and :attr:`oldest_waiting` do not depend on how the relay's writes were cut
into chunks; the ingest loop itself reads about one group before each commit.

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
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foundation.clock import Clock, utcnow
from hub.config import IngestSettings, MqttSettings
from hub.errors import MqttError
from hub.mqtt.frames import READ_CHUNK, FrameBuffer, encode_frame
from hub.mqtt.inbound import Inbound
from hub.mqtt.process import end_relay, exit_text, relay_config, spawn_relay
from schemas.topics import OBSERVATIONS_FILTER, STATUS_FILTER, shared

__all__ = ["AckHandle", "MqttConnection"]

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
EXIT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class AckHandle:
    mid: int
    qos: int
    generation: int


class MqttConnection:
    """Subscribe to observations and status; yield batches; ack after commit; publish."""

    def __init__(
        self,
        settings: MqttSettings,
        ingest: IngestSettings,
        *,
        judge: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """``judge``: ``"module:function"`` the relay runs on large messages (RelayConfig.judge);
        ``clock``: stamps the time each message is received."""
        self._settings = settings
        self._clock = clock
        self._ingest = ingest
        self._judge = judge
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._frames = FrameBuffer()
        self._queue: collections.deque[Inbound] = collections.deque()
        self._in_hand = 0  # handed out by batches(), not acknowledged yet
        self._in_hand_since: datetime | None = None
        self._watching = False  # the event loop's reader on the relay socket is installed
        self._waiter: asyncio.Future[None] | None = None
        self._failure: MqttError | None = None
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
        """Messages received from the relay and not yet acknowledged: queued, or handed out
        by :meth:`batches` and not yet passed to :meth:`ack` (being committed)."""
        return len(self._queue) + self._in_hand

    @property
    def oldest_waiting(self) -> datetime | None:
        """When the oldest message not yet acknowledged arrived (None: none waits)."""
        if self._in_hand_since is not None:
            return self._in_hand_since
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
        self._proc, self._sock = spawn_relay(url)
        config = relay_config(self._settings, self._ingest, self._judge, self.subscriptions)
        self._send(encode_frame(config))
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
        """Ask the relay to disconnect; after process.STOP_TIMEOUT_S kill it by its PID; reap it."""
        proc, sock, loop = self._proc, self._sock, self._loop
        self._proc = self._sock = None
        if sock is not None and loop is not None:
            if self._watching:
                loop.remove_reader(sock.fileno())
            if self._writing:
                loop.remove_writer(sock.fileno())
        self._watching = self._writing = False
        unsent = bytes(self._out)
        self._out.clear()
        end_relay(proc, sock, unsent)
        self._connected = self._subscribed = False

    # -- reading the relay (event loop) ----------------------------------------------------

    async def _read(self) -> None:
        """Wait until the relay sends something (the reader takes it in); raise MqttError if
        it is gone, sent garbled data, or sent nothing for ``relay_silence_s``."""
        if self._sock is None:
            raise MqttError(self._settings.url, "the MQTT connection is stopped")
        await self._check_relay()
        assert self._loop is not None
        self._watch()
        silence = self._settings.relay_silence_s
        self._waiter = waiter = self._loop.create_future()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that meets a completed read, and the hub would never stop.
            async with asyncio.timeout(silence):
                await waiter
        except TimeoutError:
            pid = self._proc.pid if self._proc is not None else "?"
            self.stop()  # a stuck relay is killed by its PID (end_relay)
            raise MqttError(
                self._settings.url,
                f"the MQTT relay process (pid {pid}) sent nothing for {silence:g} s; stopped it",
            ) from None
        finally:
            self._waiter = None
        await self._check_relay()

    async def _check_relay(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._eof:
            await self._relay_gone()

    def _watch(self) -> None:
        """Have the event loop read the relay whenever it sends, while the queue has room."""
        sock, loop = self._sock, self._loop
        if sock is None or loop is None:
            return
        wanted = (
            not self._eof and self._failure is None and len(self._queue) < self._ingest.queue_size
        )
        if wanted and not self._watching:
            loop.add_reader(sock.fileno(), self._on_readable)
        elif self._watching and not wanted:
            loop.remove_reader(sock.fileno())
        self._watching = wanted

    def _on_readable(self) -> None:
        """The reader: take in about one more group; wake :meth:`_read` if it waits."""
        limit = min(self._ingest.queue_size, len(self._queue) + self._ingest.max_batch_messages)
        heard = self._read_ready(limit)
        self._watch()
        waiter = self._waiter
        if (heard or self._eof or self._failure) and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _read_ready(self, limit: int) -> bool:
        """Take what the relay already sent, without waiting, until the queue holds ``limit``
        messages or ``max_batch_bytes`` were read; return whether anything was read.

        The ingest loop reads about one group (``max_batch_messages``) before each commit,
        so that the group is committed while the relay goes on: reading all that is there
        while the relay keeps sending would hold the first commit back. Garbled data is kept
        in ``_failure`` (raised by :meth:`batches` and :meth:`_read`), an EOF in ``_eof``.
        """
        sock = self._sock
        budget = self._ingest.max_batch_bytes
        heard = False
        while sock is not None and not self._eof and len(self._queue) < limit and budget > 0:
            try:
                data = sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self._eof = True  # raised by _read() once the queue is empty
                break
            heard = True
            budget -= len(data)
            try:
                self._take(data)
            except MqttError as exc:
                self._failure = exc
                break
        return heard

    async def _relay_gone(self) -> None:
        proc = self._proc
        code = None
        if proc is not None:
            deadline = time.monotonic() + EXIT_WAIT_S
            while (code := proc.poll()) is None and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # its socket closed: the exit follows at once
        pid = proc.pid if proc is not None else "?"
        detail = f"the MQTT relay process (pid {pid}) {exit_text(code)}"
        if self._fatal:
            detail += f": {self._fatal}"
        self._connected = self._subscribed = False
        raise MqttError(self._settings.url, detail)

    def _take(self, data: bytes) -> None:
        try:
            frames = self._frames.feed(data)
        except ValueError as exc:
            raise MqttError(self._settings.url, f"garbled data from the MQTT relay: {exc}") from exc
        received = self._clock()
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
            self._read_ready(min(self._ingest.queue_size, limit_msgs))
            if self._failure is not None:
                raise self._failure
            first = queue.popleft()
            group = [first]
            size = len(first.payload)
            while queue and len(group) < limit_msgs and size < limit_bytes:
                item = queue.popleft()
                group.append(item)
                size += len(item.payload)
            if not self._in_hand:
                self._in_hand_since = first.received
            self._in_hand += len(group)
            self._watch()  # room again: the reader resumes
            yield group

    def ack(self, inbounds: list[Inbound]) -> int:
        """Acknowledge committed messages of the current connection; return how many.

        Every message passed here leaves :attr:`backlog`, acknowledged or not (one of an
        earlier connection is stored and redelivered by the broker, not acknowledged).
        """
        self._in_hand = max(0, self._in_hand - len(inbounds))
        if not self._in_hand:
            self._in_hand_since = None
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
