"""One frozen settings object, read from `MUSICEZ_*` variables once, at the composition root."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from musicez.domain.rate_limit import InvalidRateLimit, RateLimit

PREFIX = "MUSICEZ_"
Seconds = Annotated[int, msgspec.Meta(ge=1, le=10 * 365 * 86400)]


_ASYNC_DRIVERS = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


class SettingsError(ValueError):
    """The environment describes a service that cannot (or must not) start."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    env: Literal["development", "production"] = "development"
    data_dir: str = ".musicez"
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "mez"
    auto_migrate: bool | None = None  # default: on in development, off in production

    access_token_ttl: Seconds = 900
    refresh_token_ttl: Seconds = 604_800
    refresh_reuse_grace: Annotated[int, msgspec.Meta(ge=0, le=300)] = 10
    session_max_age: Seconds = 2_592_000
    bcrypt_rounds: Annotated[int, msgspec.Meta(ge=4, le=20)] = 12

    rate_limit: str = "600/minute"
    login_rate_limit: str = "20/minute"
    login_client_rate_limit: str = "600/minute"
    register_rate_limit: str = "300/minute"
    forgot_rate_limit: str = "300/minute"
    forgot_email_rate_limit: str = "10/hour"
    trusted_proxies: str = ""

    jwt_algorithm: Literal["EdDSA", "ES256", "HS256"] = "EdDSA"
    jwt_signing_key: str | None = None
    jwt_signing_key_file: str | None = None
    jwt_verification_keys_file: str | None = None
    jwt_issuer: str = "musicez-auth"
    jwt_audience: str = "musicez-api"
    jwt_leeway: Annotated[int, msgspec.Meta(ge=0, le=30)] = 10
    secret_key: str | None = None

    mail_outbox: str | None = None
    smtp_url: str | None = None
    mail_from: str = "MusicEZ <no-reply@musicez.local>"
    password_reset_url: str = "http://localhost:8000/reset-password"
    password_reset_ttl: Seconds = 1800

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    max_body_size: Annotated[int, msgspec.Meta(ge=1024, le=1_048_576)] = 16_384
    cors_origins: str = ""
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: str | None = None
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10

    # -- v1.1 ---------------------------------------------------------------------------
    public_url: str | None = None  # the service's own origin (CSRF checks, links)
    security_url: str = "http://localhost:8000/not-me"
    account_failure_limit: str = "10/minute,100/hour"
    activity_retention: Seconds = 90 * 86400
    refresh_cookie_name: str = "__Secure-musicez_refresh"
    refresh_cookie_path: str = "/auth"

    # -- the revocation fence: guard caches invalidated over Redis pub/sub (issue 12) ------
    fence_lease_ms: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 50  # L; 0 turns caches and fence off
    fence_ping_ms: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10  # well under L
    session_cache_size: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 20_000
    api_key_cache_size: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        source = os.environ if environ is None else environ
        fields = set(cls.__struct_fields__)
        raw: dict[str, object] = {}
        for name, value in source.items():
            if name.startswith(PREFIX) and not name.startswith("MUSICEZ_TEST_"):
                field = name.removeprefix(PREFIX).lower()
                if field in fields and value != "":
                    raw[field] = value
        raw.update(overrides)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            where = str(exc).rsplit("$.", 1)
            variable = PREFIX + where[1].rstrip("`").upper() if len(where) == 2 else "a MUSICEZ_ variable"
            raise SettingsError(f"{variable}: {exc}") from None
        settings.validate()
        return settings

    # -- derived values ---------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def effective_database_url(self) -> str:
        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.data_path / 'musicez.db').resolve()}"
        # The async drivers are the only ones installed: `postgresql://` and `sqlite://` mean them.
        for plain, driver in _ASYNC_DRIVERS.items():
            if self.database_url.startswith(plain):
                return driver + self.database_url.removeprefix(plain)
        return self.database_url

    @property
    def migrate_at_startup(self) -> bool:
        return (not self.is_production) if self.auto_migrate is None else self.auto_migrate

    def limit(self, name: str) -> RateLimit:
        return RateLimit.parse(getattr(self, name))

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def validate(self) -> None:
        problems: list[str] = []
        for name in (
            "rate_limit",
            "login_rate_limit",
            "login_client_rate_limit",
            "register_rate_limit",
            "forgot_rate_limit",
            "forgot_email_rate_limit",
        ):
            try:
                self.limit(name)
            except InvalidRateLimit as exc:
                problems.append(f"{PREFIX}{name.upper()}: {exc}")
        if "*" in self.cors_origin_list:
            problems.append(f"{PREFIX}CORS_ORIGINS: list origins explicitly; '*' is not allowed")
        for entry in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(f"{PREFIX}TRUSTED_PROXIES: {entry[:64]!r} is not an IP address or network")
        if self.is_production:
            problems.extend(self._production_problems())
        if problems:
            raise SettingsError("\n".join(problems))

    def _production_problems(self) -> list[str]:
        found = []
        if not self.database_url or self.database_url.startswith("sqlite"):
            found.append(f"{PREFIX}DATABASE_URL must name a PostgreSQL database (postgresql+asyncpg://…)")
        if not self.redis_url:
            found.append(f"{PREFIX}REDIS_URL must be set: the in-process session store serves one process only")
        if not self.secret_key:
            found.append(f"{PREFIX}SECRET_KEY must be set (32+ random bytes, e.g. `openssl rand -base64 48`)")
        if not (self.jwt_signing_key or self.jwt_signing_key_file):
            found.append(
                f"{PREFIX}JWT_SIGNING_KEY or {PREFIX}JWT_SIGNING_KEY_FILE must be set (`musicez keys generate`)"
            )
        if not (self.mail_outbox or self.smtp_url):
            found.append(f"{PREFIX}SMTP_URL (or {PREFIX}MAIL_OUTBOX) must be set: production mail is never only logged")
        if found:
            found.insert(0, "MUSICEZ_ENV=production refuses to start on development defaults:")
        return found
