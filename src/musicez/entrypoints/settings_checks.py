"""What the settings refuse: values that do not decode, and unsafe or unusable combinations
(production on development defaults, weak production values, unsafe cookie names)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from musicez.domain.rate_limit import InvalidRateLimit, RateLimit
from musicez.entrypoints.origins import origin_of

if TYPE_CHECKING:
    from musicez.entrypoints.settings import Settings

PREFIX = "MUSICEZ_"
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,128}")  # an RFC 6265 token
_COOKIE_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]{0,255}")  # printable, no ';'
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
MIN_METRICS_TOKEN_LENGTH = 32


class SettingsError(ValueError):
    """The environment describes a service that cannot (or must not) start."""


# Variables holding one rate limit, one list of limits that all apply, or a comma list, in the
# order their problems are reported.
_LIMITS = (
    "rate_limit",
    "login_rate_limit",
    "login_client_rate_limit",
    "register_rate_limit",
    "forgot_rate_limit",
    "forgot_email_rate_limit",
    "refresh_session_limit",
    "refresh_failure_limit",
    "reset_failure_limit",
    "api_key_failure_limit",
    "security_mail_rate_limit",
    "not_me_failure_limit",
)
_LIMIT_LISTS = ("account_failure_limit",)
_LISTS = ("cors_origins", "trusted_proxies")


def _limit_list(text: str) -> tuple[RateLimit, ...]:
    """A comma-separated list of limits that all apply (`10/minute,100/hour`)."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InvalidRateLimit("expected one or more limits such as 10/minute,100/hour")
    return tuple(RateLimit.parse(part) for part in parts)


def decode_lists(raw: dict[str, object]) -> list[str]:
    """Rate limits and comma lists given as text, decoded in place; a value that does not decode
    is reported (and left to its default so that every other problem is found too)."""
    problems = []
    for name in (*_LIMITS, *_LIMIT_LISTS):
        text = raw.get(name)
        if isinstance(text, str):
            try:
                raw[name] = RateLimit.parse(text) if name in _LIMITS else _limit_list(text)
            except InvalidRateLimit as exc:
                del raw[name]
                problems.append(f"{PREFIX}{name.upper()}: {exc}")
    for name in _LISTS:
        text = raw.get(name)
        if isinstance(text, str):
            raw[name] = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    return problems


def production_problems(settings: Settings, *, database_only: bool = False) -> list[str]:
    found = []
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        found.append(f"{PREFIX}DATABASE_URL must name a PostgreSQL database (postgresql+asyncpg://…)")
    if not settings.secret_key:
        found.append(f"{PREFIX}SECRET_KEY must be set (32+ random bytes, e.g. `openssl rand -base64 48`)")
    if database_only:
        if found:
            found.insert(0, "MUSICEZ_ENV=production refuses to start on development defaults:")
        return found
    if not settings.redis_url:
        found.append(f"{PREFIX}REDIS_URL must be set: the in-process session store serves one process only")
    if not (settings.jwt_signing_key or settings.jwt_signing_key_file):
        found.append(f"{PREFIX}JWT_SIGNING_KEY or {PREFIX}JWT_SIGNING_KEY_FILE must be set (`musicez keys generate`)")
    if not (settings.mail_outbox or settings.smtp_url):
        found.append(f"{PREFIX}SMTP_URL (or {PREFIX}MAIL_OUTBOX) must be set: production mail is never only logged")
    defaults = type(settings)()
    if settings.password_reset_url == defaults.password_reset_url:
        found.append(
            f"{PREFIX}PASSWORD_RESET_URL must be set: the page of your front end that takes the reset token "
            "(the default points at localhost)"
        )
    if settings.mail_from == defaults.mail_from:
        found.append(f"{PREFIX}MAIL_FROM must be set: the sender address of your domain (e.g. 'MusicEZ <no-reply@…>')")
    found.extend(_production_hardening_problems(settings))
    if found:
        found.insert(0, "MUSICEZ_ENV=production refuses to start on development defaults:")
    return found


def browser_mode_problems(settings: Settings) -> list[str]:
    """The refresh cookie's name and path go into a `Set-Cookie` header verbatim (browser mode);
    the listed origins and the service's own URL must be origins a browser can send."""
    found = []
    if not _COOKIE_NAME.fullmatch(settings.refresh_cookie_name):
        found.append(f"{PREFIX}REFRESH_COOKIE_NAME: letters, digits and !#$%&'*+-.^_`|~ only")
    elif settings.refresh_cookie_name.lower().startswith("__host-") and settings.refresh_cookie_path != "/":
        found.append(f"{PREFIX}REFRESH_COOKIE_NAME: a __Host- cookie needs {PREFIX}REFRESH_COOKIE_PATH=/")
    if not _COOKIE_PATH.fullmatch(settings.refresh_cookie_path):
        found.append(f"{PREFIX}REFRESH_COOKIE_PATH: an absolute path such as /auth, without ';' or spaces")
    # An entry that is no origin would match no browser's `Origin` (browser mode would fail
    # silently); spelling (case, a trailing `/`, a default port) is read as a browser writes it.
    for entry in settings.cors_origins:
        if entry != "*" and origin_of(entry) is None:
            found.append(f"{PREFIX}CORS_ORIGINS: {entry[:64]!r} is not an origin: scheme://host[:port], no path")
    if settings.public_url is not None and origin_of(settings.public_url, of_url=True) is None:
        found.append(
            f"{PREFIX}PUBLIC_URL: {settings.public_url[:64]!r} is not an http(s) URL: "
            "the service's own origin, such as https://auth.example.com"
        )
    return found


# -- hardening (issue 11): weak production values


def _production_hardening_problems(settings: Settings) -> list[str]:
    found = []
    if settings.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
        found.append(
            f"{PREFIX}BCRYPT_ROUNDS must be at least {MIN_PRODUCTION_BCRYPT_ROUNDS} in production "
            f"(it is {settings.bcrypt_rounds})"
        )
    if settings.metrics_token is not None and len(settings.metrics_token) < MIN_METRICS_TOKEN_LENGTH:
        found.append(
            f"{PREFIX}METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters "
            f"(e.g. `openssl rand -hex 32`)"
        )
    if (
        settings.jwt_algorithm == "HS256"
        and settings.secret_key
        and _hs256_secret(settings) == settings.secret_key.strip()
    ):
        found.append(
            f"{PREFIX}JWT_SIGNING_KEY (the HS256 secret) must differ from {PREFIX}SECRET_KEY: "
            "one leaked secret must not give away the other"
        )
    return found


def _hs256_secret(settings: Settings) -> str | None:
    if settings.jwt_signing_key:
        return settings.jwt_signing_key.strip()
    if settings.jwt_signing_key_file:
        try:
            return Path(settings.jwt_signing_key_file).expanduser().read_text().strip()
        except OSError:
            return None  # reported when the key ring is built
    return None
