"""Rate-limit ports: counting requests against limits, and hearing the decisions."""

from __future__ import annotations

from collections.abc import Callable
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

    async def refund(self, key: str, limit: RateLimit) -> None:
        """Give back one request counted in the current window (it turned out not to count:
        an attempt that was no failure); never below none counted."""
        ...


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


# What a process hears of a spent budget: its name, the limit's amount, seconds left in its window.
SpentBudgetListener = Callable[[str, int, int], None]


class SpentBudgetNotifier(Protocol):
    """Tells every server process that a client address used up a failure budget, so each
    refuses it before any lookup for the rest of the window (API.md, Hardening v1.1), though
    the failures were counted elsewhere; and hands this process what the others tell.

    A budget is named by `rate_limit_name` (`scope:<keyed hash>`): no address in clear. The
    window's end travels as seconds left, turned into a time on the receiver's own clock, so
    host clocks need not agree."""

    async def budget_spent(self, name: str, limit: int, reset_after: int) -> None:
        """Tell the other processes; best effort (never raises: they still learn it on that
        address's next failure there)."""
        ...

    def on_budget_spent(self, listener: SpentBudgetListener) -> None:
        """Call `listener(name, limit, reset_after)` for every budget another process says is
        spent, from now on (what was said before this process listened is not replayed)."""
        ...
