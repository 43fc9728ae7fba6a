"""The tunable numbers the use cases follow; built from settings at the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from musicez.domain.rate_limit import RateLimit


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    access_token_ttl: int = 900
    refresh_token_ttl: int = 604_800
    refresh_reuse_grace: int = 10
    session_max_age: int = 2_592_000


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    per_principal: RateLimit = field(default_factory=lambda: RateLimit(600, "minute"))
    # Failed logins for one (email, client) pair: stops guessing without a long lock-out.
    login_failures: RateLimit = field(default_factory=lambda: RateLimit(20, "minute"))
    login_per_client: RateLimit = field(default_factory=lambda: RateLimit(600, "minute"))
    register_per_client: RateLimit = field(default_factory=lambda: RateLimit(300, "minute"))
    forgot_per_client: RateLimit = field(default_factory=lambda: RateLimit(300, "minute"))
    # Reset mails to one address; over it the request still answers 202 but sends nothing.
    forgot_per_email: RateLimit = field(default_factory=lambda: RateLimit(10, "hour"))
    # -- hardening (issue 11) --
    # Failed logins for one account from every address together; every limit applies.
    account_failures: tuple[RateLimit, ...] = (RateLimit(10, "minute"), RateLimit(100, "hour"))
    # Failed reset tokens and failed API keys per client address.
    reset_failures: RateLimit = field(default_factory=lambda: RateLimit(30, "hour"))
    api_key_failures: RateLimit = field(default_factory=lambda: RateLimit(300, "hour"))


def client_limit(route: str, client: str, policy: ThrottlePolicy) -> tuple[str, RateLimit]:
    """The per-client-address limit of a public route (API.md, Rate limits: login, register and
    forgot-password): its key for this client and its amount. One place for both, so the use
    cases and the HTTP layer's count of a request refused before its use case ran (a malformed
    body) are one count."""
    if route == "login":
        return f"login-client:{client}", policy.login_per_client
    if route == "register":
        return f"register:{client}", policy.register_per_client
    if route == "forgot":
        return f"forgot-client:{client}", policy.forgot_per_client
    raise ValueError(f"no per-client limit for the route {route!r}")


@dataclass(frozen=True, slots=True)
class ResetPolicy:
    token_ttl: int = 1800
    reset_url: str = "http://localhost:8000/reset-password"
    product_name: str = "MusicEZ"


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """Refresh limits (hardening): successful refreshes per session, failures per client address."""

    per_session: RateLimit = field(default_factory=lambda: RateLimit(60, "minute"))
    failures_per_client: RateLimit = field(default_factory=lambda: RateLimit(60, "minute"))
