"""Device tokens: proof that this device has logged in to this account before.

A device token is stateless: `mezd_` + base64url(expiry (8 bytes) + nonce (16 bytes) +
HMAC-SHA256 under the server key of (purpose, user id, credential stamp, expiry, nonce)).
Nothing is stored, so nothing can leak from a store, every login can hand out a new one while
earlier ones stay valid until they expire, and checking one costs a MAC and no round trip.
Rotating the server secret voids them all (as it voids refresh tokens). The token names no user:
the MAC binds it to one, so a token of account A proves nothing for account B.

The credential stamp is when the account's credentials last changed (`User.updated_at`: set by a
password change or reset, and by a disable or enable; not by a login, nor by a rehash at a higher
cost). So a password reset voids every device token made before it: whoever logged in with the
old password (a phisher, a shared computer) no longer gets past the account's failure budget
while guessing the new one.

It is a credential for nothing but skipping the per-account failure budget at login: it is
not a JWT (a bearer is refused) and not 86 characters of base64 (a refresh is refused).
"""

from __future__ import annotations

import binascii
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from musicez.application.macs import device_token_mac
from musicez.application.ports import Clock, KeyedHasher, SecretGenerator
from musicez.domain import base64url
from musicez.domain.user import User

DEVICE_TOKEN_TTL = timedelta(days=90)
DEVICE_TOKEN_PREFIX = "mezd_"
DEVICE_TOKEN_MAX_LENGTH = 128
_NONCE_BYTES = 16
_MAC_BYTES = 32
_RAW_LENGTH = 8 + _NONCE_BYTES + _MAC_BYTES
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def credential_stamp(user: User) -> int:
    """When the account's credentials last changed, in whole microseconds (no float rounding)."""
    changed = user.updated_at if user.updated_at.tzinfo is not None else user.updated_at.replace(tzinfo=UTC)
    return (changed - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class DeviceTokens:
    macs: KeyedHasher
    secrets: SecretGenerator
    clock: Clock

    def _mac(self, user: User, expiry: bytes, nonce: bytes) -> bytes:
        return device_token_mac(self.macs, user.id, credential_stamp(user), expiry, nonce)

    def issue(self, user: User) -> str:
        expires = int((self.clock.now() + DEVICE_TOKEN_TTL).timestamp())
        expiry = expires.to_bytes(8, "big")
        nonce = self.secrets.token_bytes(_NONCE_BYTES)
        raw = expiry + nonce + self._mac(user, expiry, nonce)
        return DEVICE_TOKEN_PREFIX + base64url.encode(raw)

    def is_valid(self, token: str | None, user: User) -> bool:
        """A live device token of this account, made since its credentials last changed; anything
        else (absent, malformed, expired, another account's, older than a password reset) is
        simply no device token."""
        if not token or len(token) > DEVICE_TOKEN_MAX_LENGTH or not token.startswith(DEVICE_TOKEN_PREFIX):
            return False
        body = token.removeprefix(DEVICE_TOKEN_PREFIX)
        if not body.isascii():
            return False
        try:
            raw = base64url.decode_canonical(body)  # only the one canonical spelling
        except (binascii.Error, ValueError):
            return False
        if len(raw) != _RAW_LENGTH:
            return False
        expiry, nonce, mac = raw[:8], raw[8 : 8 + _NONCE_BYTES], raw[8 + _NONCE_BYTES :]
        if not hmac.compare_digest(mac, self._mac(user, expiry, nonce)):
            return False
        return int.from_bytes(expiry, "big") > self.clock.now().timestamp()
