"""Why the broker refused the gateway, in words that name the setting to change.

Two refusals repeat for ever unless a person acts: the broker's TLS listener wants a client
certificate that the configuration does not give (``TLSV13_ALERT_CERTIFICATE_REQUIRED``,
which TLS 1.3 reports on the first read after the handshake, so paho only logs it), and the
broker's CONNACK refuses the login (MQTT 5 0x86/0x87, MQTT 3.1.1 4/5).
:class:`RecordingContext` keeps the TLS error that paho swallows; :class:`RefusalReporter`
logs each failed attempt, a known cause as one sentence that names the setting: an error
the first time, at debug level while the same cause repeats.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import Any

from aiomqtt.exceptions import MqttConnectError, MqttError
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import EdgeConfig

__all__ = [
    "CERT_REQUIRED",
    "KnownCauseFilter",
    "LostBeforeConnackError",
    "RecordingContext",
    "RefusalReporter",
    "login_refused",
    "refusal_cause",
    "tls_context",
]

CERT_REQUIRED = (
    "the broker requires a client certificate: set [mqtt] cert_file and key_file "
    "(deploy/certs/make-certs.sh makes one)"
)
_LOGIN_CODES = {0x86, 0x87, 4, 5}  # MQTT 5: bad user name or password, not authorized; 3.1.1


class LostBeforeConnackError(MqttError):
    """The connection ended before the broker's CONNACK: the attempt failed at once."""


class _RecordingSocket(ssl.SSLSocket):
    """An SSL socket that tells its context about the TLS error of a failed read."""

    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # noqa: A002 - ssl's name
        try:
            return super().read(len, buffer)
        except ssl.SSLError as exc:
            context = self.context
            if isinstance(context, RecordingContext):
                context.failure = exc
            raise


class RecordingContext(ssl.SSLContext):
    """A client TLS context that remembers the last TLS error one of its sockets read."""

    sslsocket_class = _RecordingSocket
    failure: ssl.SSLError | None = None


class KnownCauseFilter(logging.Filter):
    """Drops paho's "failed to receive on socket: ...CERTIFICATE_REQUIRED" line, logged on
    every retry: :class:`RefusalReporter` reports that cause itself, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _certificate_required_text(record.getMessage())


def tls_context(cafile: str | None, certfile: str | None, keyfile: str | None) -> RecordingContext:
    """What ``ssl.create_default_context`` gives a client, as a :class:`RecordingContext`."""
    context = RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        context.load_verify_locations(cafile=cafile)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if certfile and keyfile:
        context.load_cert_chain(certfile, keyfile)
    return context


def _certificate_required(error: ssl.SSLError | None) -> bool:
    if error is None:
        return False
    return _certificate_required_text(f"{error.reason or ''} {error}")


def _certificate_required_text(text: str) -> bool:
    upper = text.upper()
    return "CERTIFICATE_REQUIRED" in upper or "CERTIFICATE REQUIRED" in upper


def login_refused(error: BaseException) -> bool:
    """Whether ``error`` is a CONNACK that refused the user name or password."""
    if not isinstance(error, MqttConnectError):
        return False
    code = error.rc.value if isinstance(error.rc, ReasonCode) else error.rc
    return code in _LOGIN_CODES


def refusal_cause(
    errors: Sequence[BaseException], tls_failure: ssl.SSLError | None, config: EdgeConfig
) -> str | None:
    """One sentence naming the cause and the setting, or None for a refusal not known here.

    The TLS alert is not always read: the broker may close the connection before the client
    reads it (a reset then discards it). A TLS connection without a client certificate that
    ends before the CONNACK is taken for the same cause.
    """
    if _certificate_required(tls_failure) or (
        config.mqtt.tls
        and config.mqtt.cert_file is None
        and any(isinstance(error, LostBeforeConnackError) for error in errors)
    ):
        return CERT_REQUIRED
    if any(login_refused(error) for error in errors):
        user = config.mqtt_username
        if config.mqtt.password is None:
            return (
                f"the broker refused the login for user {user}: no password is set; "
                "set it in HJEM_EDGE_MQTT__PASSWORD (and check [mqtt] username)"
            )
        return (
            f"the broker refused the login for user {user}: check [mqtt] username and the "
            "password in HJEM_EDGE_MQTT__PASSWORD"
        )
    return None


class RefusalReporter:
    """Logs the publisher's failed connection attempts on ``log``.

    A failure with a known cause (:func:`refusal_cause`) is an error line the first time and
    a debug line while the same cause repeats; :meth:`connected` forgets the cause told.
    Any other failure is a warning each time, as before.
    """

    def __init__(self, config: EdgeConfig, log: logging.Logger) -> None:
        self.config = config
        self.log = log
        self.tls: RecordingContext | None = None
        """The TLS context of the latest connection attempt (it records a TLS alert)."""
        self._told: str | None = None

    def connected(self) -> None:
        self._told = None

    def failed(self, errors: Sequence[BaseException], delay: float, depth: int) -> None:
        failure = self.tls.failure if self.tls else None
        cause = refusal_cause(errors, failure, self.config)
        level = logging.WARNING
        if cause is not None:
            level = logging.DEBUG if cause == self._told else logging.ERROR
            self._told = cause
        self.log.log(
            level,
            "MQTT %s: %s; retrying in %.1f s (outbox holds %d)",
            self.config.mqtt.url,
            cause or errors[0],
            delay,
            depth,
        )
