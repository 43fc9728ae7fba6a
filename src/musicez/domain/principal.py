"""Who made a request: a user through a session, or a service through an API key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from musicez.domain.api_key import SCOPE_GRANTS, USER_SCOPES
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import Session


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    user_id: UserId
    session_id: SessionId
    access_token_expires_at: datetime
    # The session as the guard read it on this request, so "who am I" needs no second read.
    session: Session | None = field(default=None, compare=False)
    # Whose budget the per-principal rate limit counts: worked out once, not on every request.
    rate_key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_key", f"principal:user:{self.user_id}")


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    key_id: ApiKeyId
    name: str
    rate_limit: RateLimit | None
    scope: str = "api"  # the key's scope (v1.1); see domain.api_key.SCOPE_GRANTS
    rate_key: str = field(init=False, compare=False)  # as UserPrincipal's

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_key", f"principal:key:{self.key_id}")


Principal = UserPrincipal | ApiKeyPrincipal


def holds_scope(principal: Principal, scope: str) -> bool:
    """Deny by default: an unknown scope is held by nobody; users hold only `api`."""
    if isinstance(principal, UserPrincipal):
        return scope in USER_SCOPES
    return scope in SCOPE_GRANTS.get(principal.scope, frozenset())
