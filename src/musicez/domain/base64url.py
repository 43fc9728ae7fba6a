"""base64url without padding (RFC 4648 §5), the one spelling of every token and cursor."""

from __future__ import annotations

import base64


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of unpadded base64url; `ValueError` (`binascii.Error` is one) if it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_canonical(text: str) -> bytes:
    """As `decode`, and refuses any spelling but the one `encode` gives (stray characters,
    non-zero trailing bits), so one value has one text."""
    raw = decode(text)
    if encode(raw) != text:
        raise ValueError("not canonical base64url")
    return raw
