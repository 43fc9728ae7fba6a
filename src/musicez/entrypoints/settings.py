"""One frozen settings object, read from `MUSICEZ_*` variables once, at the composition root."""

from __future__ import annotations

import ipaddress
import os
import re
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


# Secrets that may also come from a file (Docker/Kubernetes secrets): MUSICEZ_<NAME>_FILE holds
# the path; the file's content (without the final newline) is the value. The JWT keys have
# their own *_FILE fields, which also take PEM files with several keys.
FILE_SECRETS = ("secret_key", "database_url", "redis_url", "smtp_url", "metrics_token")
# Settings named by the library that reads them, not MUSICEZ_*: field -> variable.
FOREIGN = {"prometheus_multiproc_dir": "PROMETHEUS_MULTIPROC_DIR"}


def _read_secret_file(name: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text().rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from None


_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,128}")  # an RFC 6265 token
_COOKIE_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]{0,255}")  # printable, no ';'
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
MIN_METRICS_TOKEN_LENGTH = 32


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
    # Several workers share their metrics through files here (prometheus_client reads the same
    # variable; `musicez serve` sets it for its workers when it is not given).
    prometheus_multiproc_dir: str | None = None
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10

    # -- v1.1 ---------------------------------------------------------------------------
    public_url: str | None = None  # the service's own origin (CSRF checks, links)
    security_url: str = "http://localhost:8000/not-me"
    account_failure_limit: str = "10/minute,100/hour"
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
    refresh_session_limit: str = "60/minute"
    refresh_failure_limit: str = "60/minute"

    # -- hardening (issue 11) ----------------------------------------------------------
    # Failed reset tokens and failed API keys per client address, past which that address
    # gets 429 on that route for the rest of the window (roomy: only scanners reach them).
    reset_failure_limit: str = "30/hour"
    api_key_failure_limit: str = "300/hour"
    # Hashing threads (0: one per CPU), and the longest wait (seconds) for a free one a
    # password check may face; past that, login, register, reset and change answer 503
    # with Retry-After at once.
    bcrypt_threads: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    bcrypt_max_wait: Annotated[float, msgspec.Meta(gt=0, le=30)] = 1.0

    # -- security activity and security mails (issue 15) ---------------------------------
    security_mail_rate_limit: str = "5/hour"  # "new sign-in" / "password changed" mails per address
    security_link_ttl: Seconds = 7 * 86400  # how long a "this wasn't me" link works
    not_me_failure_limit: str = "60/minute"  # bad not-me tokens per client address
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
                raw[field] = _read_secret_file(field, path)
        raw.update(overrides)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            where = str(exc).rsplit("$.", 1)
            variable = PREFIX + where[1].rstrip("`").upper() if len(where) == 2 else "a MUSICEZ_ variable"
            raise SettingsError(f"{variable}: {exc}") from None
        settings.validate(database_only=database_only)
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

    def limit_list(self, name: str) -> tuple[RateLimit, ...]:
        """A comma-separated list of limits that all apply (`10/minute,100/hour`)."""
        parts = [part for part in str(getattr(self, name)).split(",") if part.strip()]
        if not parts:
            raise InvalidRateLimit("expected one or more limits such as 10/minute,100/hour")
        return tuple(RateLimit.parse(part) for part in parts)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def validate(self, *, database_only: bool = False) -> None:
        problems: list[str] = []
        for name in (
            "rate_limit",
            "login_rate_limit",
            "login_client_rate_limit",
            "register_rate_limit",
            "forgot_rate_limit",
            "forgot_email_rate_limit",
            "refresh_session_limit",
            "refresh_failure_limit",
        ):
            try:
                self.limit(name)
            except InvalidRateLimit as exc:
                problems.append(f"{PREFIX}{name.upper()}: {exc}")
        for name in (
            "reset_failure_limit",
            "api_key_failure_limit",
            "security_mail_rate_limit",
            "not_me_failure_limit",
        ):
            try:
                self.limit(name)
            except InvalidRateLimit as exc:
                problems.append(f"{PREFIX}{name.upper()}: {exc}")
        try:
            self.limit_list("account_failure_limit")
        except InvalidRateLimit as exc:
            problems.append(f"{PREFIX}ACCOUNT_FAILURE_LIMIT: {exc}")
        if "*" in self.cors_origin_list:
            problems.append(f"{PREFIX}CORS_ORIGINS: list origins explicitly; '*' is not allowed")
        for entry in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(f"{PREFIX}TRUSTED_PROXIES: {entry[:64]!r} is not an IP address or network")
        problems.extend(self._browser_mode_problems())
        if self.is_production:
            problems.extend(self._production_problems(database_only=database_only))
        if problems:
            raise SettingsError("\n".join(problems))

    def _production_problems(self, *, database_only: bool = False) -> list[str]:
        found = []
        if not self.database_url or self.database_url.startswith("sqlite"):
            found.append(f"{PREFIX}DATABASE_URL must name a PostgreSQL database (postgresql+asyncpg://…)")
        if not self.secret_key:
            found.append(f"{PREFIX}SECRET_KEY must be set (32+ random bytes, e.g. `openssl rand -base64 48`)")
        if database_only:
            if found:
                found.insert(0, "MUSICEZ_ENV=production refuses to start on development defaults:")
            return found
        if not self.redis_url:
            found.append(f"{PREFIX}REDIS_URL must be set: the in-process session store serves one process only")
        if not (self.jwt_signing_key or self.jwt_signing_key_file):
            found.append(
                f"{PREFIX}JWT_SIGNING_KEY or {PREFIX}JWT_SIGNING_KEY_FILE must be set (`musicez keys generate`)"
            )
        if not (self.mail_outbox or self.smtp_url):
            found.append(f"{PREFIX}SMTP_URL (or {PREFIX}MAIL_OUTBOX) must be set: production mail is never only logged")
        defaults = type(self)()
        if self.password_reset_url == defaults.password_reset_url:
            found.append(
                f"{PREFIX}PASSWORD_RESET_URL must be set: the page of your front end that takes the reset token "
                "(the default points at localhost)"
            )
        if self.mail_from == defaults.mail_from:
            found.append(
                f"{PREFIX}MAIL_FROM must be set: the sender address of your domain (e.g. 'MusicEZ <no-reply@…>')"
            )
        found.extend(self._production_hardening_problems())
        if found:
            found.insert(0, "MUSICEZ_ENV=production refuses to start on development defaults:")
        return found

    def _browser_mode_problems(self) -> list[str]:
        """The refresh cookie's name and path go into a `Set-Cookie` header verbatim (browser mode)."""
        found = []
        if not _COOKIE_NAME.fullmatch(self.refresh_cookie_name):
            found.append(f"{PREFIX}REFRESH_COOKIE_NAME: letters, digits and !#$%&'*+-.^_`|~ only")
        elif self.refresh_cookie_name.lower().startswith("__host-") and self.refresh_cookie_path != "/":
            found.append(f"{PREFIX}REFRESH_COOKIE_NAME: a __Host- cookie needs {PREFIX}REFRESH_COOKIE_PATH=/")
        if not _COOKIE_PATH.fullmatch(self.refresh_cookie_path):
            found.append(f"{PREFIX}REFRESH_COOKIE_PATH: an absolute path such as /auth, without ';' or spaces")
        return found

    # -- hardening (issue 11): weak production values -------------------------------------------

    def _production_hardening_problems(self) -> list[str]:
        found = []
        if self.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
            found.append(
                f"{PREFIX}BCRYPT_ROUNDS must be at least {MIN_PRODUCTION_BCRYPT_ROUNDS} in production "
                f"(it is {self.bcrypt_rounds})"
            )
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN_LENGTH:
            found.append(
                f"{PREFIX}METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters "
                f"(e.g. `openssl rand -hex 32`)"
            )
        if self.jwt_algorithm == "HS256" and self.secret_key and self._hs256_secret() == self.secret_key.strip():
            found.append(
                f"{PREFIX}JWT_SIGNING_KEY (the HS256 secret) must differ from {PREFIX}SECRET_KEY: "
                "one leaked secret must not give away the other"
            )
        return found

    def _hs256_secret(self) -> str | None:
        if self.jwt_signing_key:
            return self.jwt_signing_key.strip()
        if self.jwt_signing_key_file:
            try:
                return Path(self.jwt_signing_key_file).expanduser().read_text().strip()
            except OSError:
                return None  # reported when the key ring is built
        return None
