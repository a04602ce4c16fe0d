"""The decoder errors: one root, :class:`DecodeError`, and subclasses that carry their data.

Every byte string handed to a decoder gives observations or one of these; no other exception
leaves :mod:`edge.decoders`. The message of each names the format and what was wrong, so that
``hjem decode`` can print it as its one line.
"""

from __future__ import annotations

__all__ = [
    "CrcError",
    "DecodeError",
    "DecryptionError",
    "InvalidRequestError",
    "InvalidValueError",
    "LengthError",
    "ReplayError",
    "ReservedFlagError",
    "TooShortError",
    "TrailingBytesError",
    "UnknownFormatError",
]


class DecodeError(Exception):
    """Bytes a decoder claimed but could not turn into observations."""

    def __init__(self, format: str, message: str) -> None:  # noqa: A002 - the byte format
        super().__init__(f"{format}: {message}")
        self.format = format


class LengthError(DecodeError):
    """The length does not match what the flags announce."""


class TooShortError(LengthError):
    """Fewer bytes than the flags announce."""

    def __init__(self, format: str, needed: int, got: int, what: str = "") -> None:  # noqa: A002
        detail = f" (for {what})" if what else ""
        super().__init__(format, f"too short: needs {needed} bytes{detail}, got {got}")
        self.needed = needed
        self.got = got


class TrailingBytesError(LengthError):
    """More bytes than the flags announce."""

    def __init__(self, format: str, expected: int, got: int) -> None:  # noqa: A002
        super().__init__(
            format,
            f"{got - expected} unexpected trailing bytes: flags announce {expected}, got {got}",
        )
        self.expected = expected
        self.got = got


class ReservedFlagError(DecodeError):
    """A flag bit that the specification reserves is set (the layout cannot be trusted)."""

    def __init__(self, format: str, field: str, value: int, reserved_mask: int) -> None:  # noqa: A002
        super().__init__(
            format,
            f"reserved bits set in {field}: 0x{value:02x} (reserved mask 0x{reserved_mask:02x})",
        )
        self.field = field
        self.value = value
        self.reserved_mask = reserved_mask


class InvalidValueError(DecodeError):
    """A field holds a value the specification does not allow."""

    def __init__(self, format: str, field: str, value: object, reason: str) -> None:  # noqa: A002
        super().__init__(format, f"invalid {field} {value!r}: {reason}")
        self.field = field
        self.value = value


class CrcError(DecodeError):
    """The end-to-end CRC does not match."""

    def __init__(self, format: str, expected: int, got: int) -> None:  # noqa: A002
        super().__init__(format, f"bad E2E-CRC: computed 0x{expected:04x}, received 0x{got:04x}")
        self.expected = expected
        self.got = got


class DecryptionError(DecodeError):
    """Encrypted data that cannot be decrypted (no key, wrong key), or plaintext despite a key."""


class ReplayError(DecodeError):
    """An encrypted packet whose counter does not increase: a replay or a reset device."""

    def __init__(self, format: str, counter: int, last_counter: int) -> None:  # noqa: A002
        super().__init__(
            format,
            f"encryption counter {counter} does not increase (last accepted {last_counter}); "
            "rejected as a possible replay",
        )
        self.counter = counter
        self.last_counter = last_counter


class UnknownFormatError(DecodeError):
    """A characteristic, format byte, version or object id that no decoder knows."""


class InvalidRequestError(DecodeError):
    """A request the caller asked to build is not valid (e.g. a RACP range with min > max)."""
