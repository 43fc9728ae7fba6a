"""The settings each part of the wiring needs, as small frozen groups (`Settings.jwt`, ...): a
provider asks for its group, not for the whole environment. Values arrive decoded."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from musicez.domain.rate_limit import RateLimit

JwtAlgorithm = Literal["EdDSA", "ES256", "HS256"]


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # with its async driver
    pool_size: int
    pgbouncer: bool
    sqlite_file: Path | None  # the development database, made private before first use


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str | None  # None: sessions and limits live in this process only
    prefix: str
    lease_max_chunk: int


class KeySettings(msgspec.Struct, frozen=True, kw_only=True):
    """The signing keys, the server secret and the generated development files beside them."""

    algorithm: JwtAlgorithm
    signing_key: str | None
    signing_key_file: str | None
    verification_keys_file: str | None
    secret_key: str | None
    data_path: Path


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str
    audience: str
    leeway: int
    access_ttl: int
    refresh_ttl: int
    refresh_reuse_grace: int
    session_max_age: int


class PasswordSettings(msgspec.Struct, frozen=True, kw_only=True):
    bcrypt_rounds: int
    bcrypt_threads: int | None  # None: one per CPU
    bcrypt_max_wait: float


class MailSettings(msgspec.Struct, frozen=True, kw_only=True):
    outbox: str | None
    smtp_url: str | None
    sender: str
    reset_url: str
    reset_ttl: int
    security_url: str
    security_link_ttl: int


class LimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    per_principal: RateLimit
    login_failures: RateLimit
    login_per_client: RateLimit
    register_per_client: RateLimit
    forgot_per_client: RateLimit
    forgot_per_email: RateLimit
    account_failures: tuple[RateLimit, ...]
    reset_failures: RateLimit
    api_key_failures: RateLimit
    refresh_per_session: RateLimit
    refresh_failures: RateLimit
    security_mails: RateLimit
    not_me_failures: RateLimit


class ActivitySettings(msgspec.Struct, frozen=True, kw_only=True):
    retention: int
    purge_interval: int


class FenceSettings(msgspec.Struct, frozen=True, kw_only=True):
    lease_ms: int  # 0: no caches, no fence
    ping_ms: int
    session_cache_size: int
    api_key_cache_size: int
