"""base64url without padding (RFC 4648 §5), the one spelling of every token and cursor."""

from __future__ import annotations

import base64

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of unpadded base64url; `ValueError` (`binascii.Error` is one) if it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def has_shape(text: str, size: int) -> bool:
    """`text` has the length and alphabet of `encode` of `size` bytes (a cheap check before a
    lookup; it need not be canonical)."""
    return len(text) == (4 * size + 2) // 3 and set(text) <= _ALPHABET


def decode_canonical(text: str) -> bytes:
    """As `decode`, and refuses any spelling but the one `encode` gives (stray characters,
    non-zero trailing bits), so one value has one text."""
    raw = decode(text)
    if encode(raw) != text:
        raise ValueError("not canonical base64url")
    return raw
