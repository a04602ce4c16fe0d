"""The relay's frame format: length-prefixed pickles over the hub's private socketpair.

Both ends are this project's code (:mod:`hub.mqtt_client` and :mod:`hub.mqtt_relay`); the
frames themselves are listed in the relay's module docstring.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, TypedDict

__all__ = ["HEADER", "MAX_FRAME_BYTES", "READ_CHUNK", "FrameBuffer", "RelayConfig", "encode_frame"]

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
