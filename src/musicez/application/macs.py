"""Every keyed MAC of the service, each under its own domain-separation label.

All are HMAC-SHA256 under the server key (`KeyedHasher`) of `label + 0x00 + data`. A label
names one use, so a MAC made for one purpose never verifies for another. The labels and the
byte layouts below are stored (hashes in Postgres and Redis) or handed out (tags, device
tokens): changing one logs users out or voids keys; `tests/unit/test_macs.py` pins them.
"""

from __future__ import annotations

from musicez.application.ports import KeyedHasher
from musicez.domain.ids import UserId

REFRESH_TOKEN = "refresh-token"  # the stored hash of a refresh token
REFRESH_TOKEN_TAG = "refresh-token-tag"  # the tag inside a refresh token
REFRESH_SUCCESSOR = "refresh-successor"  # the secret of the token that succeeds it
API_KEY = "api-key"  # the stored hash of an API key's secret
RESET_TOKEN = "reset-token"  # the stored hash of a password-reset token
SECURITY_LINK = "security-link"  # the stored hash of a "this wasn't me" link token
DEVICE_TOKEN = "device-token"  # the MAC inside a device token
CLIENT_ID = "client-id"  # the daily pseudonym of a client address in logs
RATE_LIMIT_KEY = "rate-limit-key"  # the name of a rate-limit counter

LABELS = (
    REFRESH_TOKEN,
    REFRESH_TOKEN_TAG,
    REFRESH_SUCCESSOR,
    API_KEY,
    RESET_TOKEN,
    SECURITY_LINK,
    DEVICE_TOKEN,
    CLIENT_ID,
    RATE_LIMIT_KEY,
)


def refresh_hash(macs: KeyedHasher, token: str) -> str:
    return macs.digest(REFRESH_TOKEN, token.encode("ascii")).hex()


def refresh_tag(macs: KeyedHasher, body: bytes, size: int) -> bytes:
    return macs.digest(REFRESH_TOKEN_TAG, body)[:size]


def refresh_successor_secret(macs: KeyedHasher, presented: str, size: int) -> bytes:
    return macs.digest(REFRESH_SUCCESSOR, presented.encode("ascii"))[:size]


def api_key_hash(macs: KeyedHasher, secret: str) -> str:
    return macs.digest(API_KEY, secret.encode("ascii")).hex()


def reset_token_hash(macs: KeyedHasher, token: str) -> str:
    return macs.digest(RESET_TOKEN, token.encode("ascii")).hex()


def security_link_hash(macs: KeyedHasher, token: str) -> str:
    return macs.digest(SECURITY_LINK, token.encode("ascii")).hex()


def device_token_mac(macs: KeyedHasher, user_id: UserId, stamp: int, expiry: bytes, nonce: bytes) -> bytes:
    """`stamp`: the account's credential stamp (`devices.credential_stamp`), 8 bytes signed."""
    return macs.digest(DEVICE_TOKEN, user_id.bytes + stamp.to_bytes(8, "big", signed=True) + expiry + nonce)


def client_id(macs: KeyedHasher, day: str, address: str) -> str:
    """12 bytes, hex, of the UTC date (ISO) and the address."""
    return macs.digest(CLIENT_ID, f"{day}\x00{address}".encode("utf-8", "replace"))[:12].hex()


def rate_limit_key(macs: KeyedHasher, rest: str) -> str:
    """16 bytes, hex, of what follows a counter's scope."""
    return macs.digest(RATE_LIMIT_KEY, rest.encode("utf-8", "replace"))[:16].hex()


def rate_limit_name(macs: KeyedHasher, key: str) -> str:
    """`scope:<rate_limit_key>` of a limiter key such as `api-key-failures:<address>`: its
    counter's name in Redis, and how a spent budget is named to other processes. It says which
    limit it is, never whose."""
    scope, _, rest = key.partition(":")
    return f"{scope}:{rate_limit_key(macs, rest)}"
