"""One frozen settings object, read from `MUSICEZ_*` variables once, at the composition root."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urljoin

import msgspec

from musicez.domain.rate_limit import RateLimit
from musicez.entrypoints.settings_checks import (
    PREFIX,
    SettingsError,
    browser_mode_problems,
    decode_lists,
    production_problems,
)
from musicez.entrypoints.settings_groups import (
    ActivitySettings,
    DatabaseSettings,
    FenceSettings,
    KeySettings,
    LimitSettings,
    MailSettings,
    PasswordSettings,
    RedisSettings,
    SessionSettings,
)
from musicez.entrypoints.settings_sources import ASYNC_DRIVERS, FILE_SECRETS, FOREIGN, read_secret_file

__all__ = ["FILE_SECRETS", "PREFIX", "Seconds", "Settings", "SettingsError"]

Seconds = Annotated[int, msgspec.Meta(ge=1, le=10 * 365 * 86400)]

DEFAULT_SECURITY_URL = "http://localhost:8000/not-me"  # API.md, "Security activity"


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

    rate_limit: RateLimit = RateLimit(600, "minute")
    login_rate_limit: RateLimit = RateLimit(20, "minute")
    login_client_rate_limit: RateLimit = RateLimit(600, "minute")
    register_rate_limit: RateLimit = RateLimit(300, "minute")
    forgot_rate_limit: RateLimit = RateLimit(300, "minute")
    forgot_email_rate_limit: RateLimit = RateLimit(10, "hour")
    trusted_proxies: tuple[str, ...] = ()  # IP addresses or networks
    # The per-client limits count an IPv6 client by this prefix of its address: 128, each address
    # (API.md); 64, each /64 (one home or one host's interface: a client that rotates through the
    # addresses of its own /64 gets no fresh budget).
    ipv6_client_prefix: Annotated[int, msgspec.Meta(ge=32, le=128)] = 128

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
    cors_origins: tuple[str, ...] = ()
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: str | None = None
    # Several workers share their metrics through files here (prometheus_client reads the same
    # variable; `musicez serve` sets it for its workers when it is not given).
    prometheus_multiproc_dir: str | None = None
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10

    # -- v1.1 ---------------------------------------------------------------------------
    public_url: str | None = None  # the service's own origin (CSRF checks, links)
    # The "this wasn't me" page; unset, the reset URL's origin + /not-me (`effective_security_url`).
    security_url: str | None = None
    account_failure_limit: tuple[RateLimit, ...] = (RateLimit(10, "minute"), RateLimit(100, "hour"))
    activity_retention: Seconds = 90 * 86400
    refresh_cookie_name: str = "__Secure-musicez_refresh"
    refresh_cookie_path: str = "/auth"
    access_log: bool = False  # operators (issue 17): one line per request, no secrets
    # -- leased rate limits, bench, PgBouncer (lease) -----------------------------------------
    # Units of a principal's budget a process takes per Redis call (1: one call per request).
    rate_lease_max_chunk: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 64
    # Behind PgBouncer in transaction mode: no prepared statement outlives a transaction.
    db_pgbouncer: bool = False
    # sessions (issue 11): successful refreshes per session; failed refreshes per client address
    refresh_session_limit: RateLimit = RateLimit(60, "minute")
    refresh_failure_limit: RateLimit = RateLimit(60, "minute")

    # -- hardening (issue 11) ----------------------------------------------------------
    # Failed reset tokens and failed API keys per client address, past which that address
    # gets 429 on that route for the rest of the window (roomy: only scanners reach them).
    reset_failure_limit: RateLimit = RateLimit(30, "hour")
    api_key_failure_limit: RateLimit = RateLimit(300, "hour")
    # Hashing threads (0: one per CPU), and the longest wait (seconds) for a free one a
    # password check may face; past that, login, register, reset and change answer 503
    # with Retry-After at once.
    bcrypt_threads: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    bcrypt_max_wait: Annotated[float, msgspec.Meta(gt=0, le=30)] = 1.0

    # -- security activity and security mails (issue 15) ---------------------------------
    security_mail_rate_limit: RateLimit = RateLimit(5, "hour")  # mails per address and kind
    security_link_ttl: Seconds = 7 * 86400  # how long a "this wasn't me" link works
    not_me_failure_limit: RateLimit = RateLimit(60, "minute")  # bad not-me tokens per client address
    activity_purge_interval: Seconds = 3600  # how often expired activity is deleted

    # -- the revocation fence: guard caches invalidated over Redis pub/sub (issue 12) ------
    fence_lease_ms: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 50  # L; 0 turns caches and fence off
    fence_ping_ms: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10  # well under L
    session_cache_size: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 20_000
    api_key_cache_size: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1_000

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, database_only: bool = False, **overrides: object
    ) -> Settings:
        """`database_only`: for commands that touch only the database (migrations, API keys), which
        must not demand the Redis, mail and signing settings of a production server."""
        source = os.environ if environ is None else environ
        fields = set(cls.__struct_fields__)
        raw: dict[str, object] = {}
        for name, value in source.items():
            if name.startswith(PREFIX) and not name.startswith("MUSICEZ_TEST_"):
                field = name.removeprefix(PREFIX).lower()
                if field in fields and field not in FOREIGN and value != "":
                    raw[field] = value
        for field, variable in FOREIGN.items():
            if source.get(variable, ""):
                raw[field] = source[variable]
        for field in FILE_SECRETS:
            path = source.get(f"{PREFIX}{field.upper()}_FILE", "")
            if path and field not in raw:
                raw[field] = read_secret_file(field, path)
        raw.update(overrides)
        problems = decode_lists(raw)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            where = str(exc).rsplit("$.", 1)
            variable = PREFIX + where[1].rstrip("`").upper() if len(where) == 2 else "a MUSICEZ_ variable"
            raise SettingsError(f"{variable}: {exc}") from None
        settings.validate(database_only=database_only, found=problems)
        return settings

    # -- derived values, and the groups each provider of the container asks for -------------

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
        for plain, driver in ASYNC_DRIVERS.items():
            if self.database_url.startswith(plain):
                return driver + self.database_url.removeprefix(plain)
        return self.database_url

    @property
    def effective_security_url(self) -> str:
        """`MUSICEZ_SECURITY_URL`, else its default `http://localhost:8000/not-me` (API.md), whatever
        the reset URL, except in production: there the unset URL is `/not-me` on the origin of
        `MUSICEZ_PASSWORD_RESET_URL` (the front end that takes reset links takes these too).
        Production refuses the default reset URL, so a production link never points at
        localhost, and the deployments that set only the reset URL keep starting."""
        if self.security_url:
            return self.security_url
        return urljoin(self.password_reset_url, "/not-me") if self.is_production else DEFAULT_SECURITY_URL

    @property
    def migrate_at_startup(self) -> bool:
        return (not self.is_production) if self.auto_migrate is None else self.auto_migrate

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(
            url=self.effective_database_url,
            pool_size=self.db_pool_size,
            pgbouncer=self.db_pgbouncer,
            sqlite_file=self.data_path / "musicez.db" if self.database_url is None else None,
        )

    @property
    def redis(self) -> RedisSettings:
        return RedisSettings(url=self.redis_url, prefix=self.redis_prefix, lease_max_chunk=self.rate_lease_max_chunk)

    @property
    def keys(self) -> KeySettings:
        return KeySettings(
            algorithm=self.jwt_algorithm,
            signing_key=self.jwt_signing_key,
            signing_key_file=self.jwt_signing_key_file,
            verification_keys_file=self.jwt_verification_keys_file,
            secret_key=self.secret_key,
            data_path=self.data_path,
        )

    @property
    def sessions(self) -> SessionSettings:
        return SessionSettings(
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            leeway=self.jwt_leeway,
            access_ttl=self.access_token_ttl,
            refresh_ttl=self.refresh_token_ttl,
            refresh_reuse_grace=self.refresh_reuse_grace,
            session_max_age=self.session_max_age,
        )

    @property
    def passwords(self) -> PasswordSettings:
        return PasswordSettings(
            bcrypt_rounds=self.bcrypt_rounds,
            bcrypt_threads=self.bcrypt_threads or None,
            bcrypt_max_wait=self.bcrypt_max_wait,
        )

    @property
    def mail(self) -> MailSettings:
        return MailSettings(
            outbox=self.mail_outbox,
            smtp_url=self.smtp_url,
            sender=self.mail_from,
            reset_url=self.password_reset_url,
            reset_ttl=self.password_reset_ttl,
            security_url=self.effective_security_url,
            security_link_ttl=self.security_link_ttl,
        )

    @property
    def limits(self) -> LimitSettings:
        return LimitSettings(
            per_principal=self.rate_limit,
            login_failures=self.login_rate_limit,
            login_per_client=self.login_client_rate_limit,
            register_per_client=self.register_rate_limit,
            forgot_per_client=self.forgot_rate_limit,
            forgot_per_email=self.forgot_email_rate_limit,
            account_failures=self.account_failure_limit,
            reset_failures=self.reset_failure_limit,
            api_key_failures=self.api_key_failure_limit,
            refresh_per_session=self.refresh_session_limit,
            refresh_failures=self.refresh_failure_limit,
            security_mails=self.security_mail_rate_limit,
            not_me_failures=self.not_me_failure_limit,
        )

    @property
    def activity(self) -> ActivitySettings:
        return ActivitySettings(retention=self.activity_retention, purge_interval=self.activity_purge_interval)

    @property
    def fence(self) -> FenceSettings:
        return FenceSettings(
            lease_ms=self.fence_lease_ms,
            ping_ms=self.fence_ping_ms,
            session_cache_size=self.session_cache_size,
            api_key_cache_size=self.api_key_cache_size,
        )

    def validate(self, *, database_only: bool = False, found: Sequence[str] = ()) -> None:
        """`found`: the problems of decoding (`from_env`), reported first."""
        problems = list(found)
        if "*" in self.cors_origins:
            problems.append(f"{PREFIX}CORS_ORIGINS: list origins explicitly; '*' is not allowed")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(f"{PREFIX}TRUSTED_PROXIES: {entry[:64]!r} is not an IP address or network")
        problems.extend(browser_mode_problems(self))
        if self.is_production:
            problems.extend(production_problems(self, database_only=database_only))
        if problems:
            raise SettingsError("\n".join(problems))
