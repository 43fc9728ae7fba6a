"""HMAC-SHA256 under the server's secret key, separated by purpose."""

from __future__ import annotations

import hashlib
import hmac


class HmacHasher:
    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) < 32:
            raise ValueError("the server secret key must be at least 32 bytes")
        self._key = secret_key

    def digest(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode("ascii") + b"\x00" + data, hashlib.sha256).digest()
