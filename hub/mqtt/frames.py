"""The relay's frame format: length-prefixed pickles over the hub's private socketpair.

Both ends are this project's code (:mod:`hub.mqtt.connection` and :mod:`hub.mqtt.relay`).

Frames are length-prefixed pickles (4-byte big-endian length), both ends being this code:

* relay -> hub: ``("connected", generation, session_present)``, ``("subscribed", generation)``,
  ``("refused", text)`` (CONNACK or SUBACK failure), ``("disconnected", text)``,
  ``("m", [(topic, payload, retain, mid, qos, generation, verdict), ...])``,
  ``("alive",)`` (every ``heartbeat_s``, :mod:`hub.mqtt.liveness`), ``("fatal", text)``;
  ``verdict`` is :func:`hub.ingest.verdicts.verdict` or None.
* hub -> relay: ``("a", [(mid, qos, generation), ...])``, ``("p", topic, payload, retain)``,
  ``("stop",)``.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
from collections import deque
from typing import Any, TypedDict

__all__ = [
    "HEADER",
    "MAX_FRAME_BYTES",
    "READ_CHUNK",
    "FrameBuffer",
    "FrameWriter",
    "RelayConfig",
    "encode_frame",
]

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 * 1024 * 1024
FLUSH_MESSAGES = 512
FLUSH_BYTES = 1024 * 1024
READ_CHUNK = 256 * 1024
EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG = 0, 1, 2


class RelayConfig(TypedDict):
    """Everything the relay needs, sent as the first frame (plain values only)."""

    host: str
    port: int
    client_id: str
    protocol: str
    username: str | None
    password: str | None
    tls: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    keepalive_s: int
    session_expiry_s: int
    receive_maximum: int
    subscriptions: list[str]
    log_level: int
    heartbeat_s: float
    """How often the relay's main thread sends ``("alive",)`` (:mod:`hub.mqtt.liveness`)."""
    prejudge_min_bytes: int | None
    """Run ``judge`` on messages of at least this size and send the verdicts; None: on none."""
    judge: str | None
    """``"module:function"`` of the judge, ``(topic, payload, *, now) -> bytes | None``: the
    hub's choice (:data:`hub.ingest.verdicts.RELAY_JUDGE`); the transport imports it by name
    and knows nothing of what it decides. None: no judging."""


def encode_frame(frame: tuple[Any, ...] | RelayConfig) -> bytes:
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


class FrameBuffer:
    """Collects received bytes and returns every complete frame."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        frames: list[Any] = []
        end = len(buf)
        offset = 0
        while end - offset >= 4:
            (size,) = HEADER.unpack_from(buf, offset)
            if size > MAX_FRAME_BYTES:
                raise ValueError(f"relay frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
            if end - offset - 4 < size:
                break
            frames.append(pickle.loads(buf[offset + 4 : offset + 4 + size]))  # noqa: S301 - own socketpair
            offset += 4 + size
        if offset:
            del buf[:offset]
        return frames


class FrameWriter:
    """Sends frames, in order, from a thread of its own (``relay-writer``).

    The producer (paho's thread in the relay) goes on reading and judging while the hub
    commits and does not read its socket; only when ``limit_bytes`` are waiting does
    :meth:`put` block, and then TCP pushes back on the broker as before. When the socket
    fails (the hub is gone), frames are dropped and ``gone`` is set.
    """

    def __init__(self, sock: socket.socket, limit_bytes: int = 32 * 1024 * 1024) -> None:
        self._sock = sock
        self._limit = limit_bytes
        self._frames: deque[bytes] = deque()
        self._queued = 0
        self._closing = False
        self.gone = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="relay-writer", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        """True while the hub is this far behind (producers wait)."""
        return self._queued >= self._limit

    def put(self, data: bytes) -> None:
        with self._cond:
            while self._queued >= self._limit and not self.gone:
                self._cond.wait()  # back pressure: the hub is this far behind
            if self.gone or self._closing:
                return
            self._frames.append(data)
            self._queued += len(data)
            self._cond.notify_all()

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._frames and not self._closing:
                    self._cond.wait()
                if not self._frames:
                    return
                frames = list(self._frames)
                self._frames.clear()
            try:
                for data in frames:
                    self._sock.sendall(data)  # blocks while the hub does not read
            except OSError:
                with self._cond:
                    self.gone = True
                    self._frames.clear()
                    self._queued = 0
                    self._cond.notify_all()
                return
            with self._cond:
                self._queued -= sum(map(len, frames))
                self._cond.notify_all()
