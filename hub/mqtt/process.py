"""The relay process's life from the hub's side: its configuration, its start on a socketpair,
its end, and how it ended.

Used by :class:`hub.mqtt.connection.MqttConnection`; the relay itself is
:mod:`hub.mqtt.relay`.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time

from foundation.process import die_with_parent
from hub.config import IngestSettings, MqttSettings
from hub.errors import MqttError
from hub.mqtt.frames import READ_CHUNK, RelayConfig, encode_frame

__all__ = ["STOP_TIMEOUT_S", "end_relay", "exit_text", "relay_config", "spawn_relay"]

log = logging.getLogger("hub.mqtt.connection")

STOP_TIMEOUT_S = 3.0


def exit_text(code: int | None) -> str:
    """How the relay ended, for the error line: ``exited with code 1``, ``was killed by ...``."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def relay_config(
    s: MqttSettings, ingest: IngestSettings, judge: str | None, subscriptions: list[str]
) -> RelayConfig:
    """The relay's first frame: everything it needs (see :class:`RelayConfig`)."""
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
        receive_maximum=min(s.receive_maximum, ingest.queue_size),
        subscriptions=subscriptions,
        log_level=logging.getLogger("hub.mqtt.relay").getEffectiveLevel(),
        prejudge_min_bytes=ingest.judge_in_relay_min_bytes,
        judge=judge,
        heartbeat_s=s.relay_silence_s / 6,
    )


def spawn_relay(url: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
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


def end_relay(
    proc: subprocess.Popen[bytes] | None, sock: socket.socket | None, unsent: bytes
) -> None:
    """Send ``unsent`` frames and a stop request, let a blocked relay finish (at most
    STOP_TIMEOUT_S), close the socket; then reap the process, killing it by its PID if it
    did not stop."""
    if sock is not None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        try:
            sock.settimeout(STOP_TIMEOUT_S)
            sock.sendall(unsent + encode_frame(("stop",)))
            while (left := deadline - time.monotonic()) > 0:  # let a blocked relay finish
                sock.settimeout(left)
                if not sock.recv(READ_CHUNK):
                    break
        except OSError:
            pass  # gone already, or timed out: killed below
        finally:
            sock.close()
    if proc is not None:
        try:
            proc.wait(timeout=max(0.1, STOP_TIMEOUT_S / 3))
        except subprocess.TimeoutExpired:
            log.warning("the MQTT relay (pid %d) did not stop; killing it", proc.pid)
            proc.kill()
            proc.wait()
