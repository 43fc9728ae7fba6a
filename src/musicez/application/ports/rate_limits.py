"""Rate-limit ports: counting requests against limits, and hearing the decisions."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from musicez.domain.rate_limit import RateLimit


class RateDecision(NamedTuple):
    """One request counted against one limit. A named tuple, not a frozen dataclass: one is made
    on every guarded request, and a frozen dataclass's `__init__` costs three times as much."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees up


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        """Count one request against `key`; `allowed` is False once over the limit."""
        ...

    async def peek(self, key: str, limit: RateLimit) -> RateDecision: ...

    async def reset(self, key: str, limit: RateLimit) -> None: ...


class PrincipalRateLimiter(RateLimiter, Protocol):
    """The guard's per-principal limit (v1.1: a leased quota, spent locally between leases).

    Same contract as RateLimiter; `remaining` may be conservative or as of the last lease."""

    def hit_nowait(self, key: str, limit: RateLimit) -> RateDecision | None:
        """`hit`, when it can be decided without I/O (a unit this process holds), else None: then
        call `hit`. A decision given here counts exactly as one from `hit`. The guard's hot path."""
        ...


class RateObserver(Protocol):
    """Hears every decision taken for the current request."""

    def observe(self, decision: RateDecision) -> None: ...

    def retract(self, decision: RateDecision) -> None:
        """A decision that no longer describes the limit (its counter was reset since)."""
        ...
