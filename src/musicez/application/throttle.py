"""Counting requests against limits, refusing politely over them, and reporting how close
each request came, so responses can say so in `RateLimit-*` headers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from musicez.application.ports import Clock, EventSink, PrincipalRateLimiter, RateDecision, RateLimiter, RateObserver
from musicez.domain.errors import RateLimited
from musicez.domain.events import Throttled
from musicez.domain.rate_limit import RateLimit


@dataclass(frozen=True, slots=True)
class Throttle:
    limiter: RateLimiter
    observer: RateObserver
    events: EventSink

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        """Count one request; over the limit, refuse it with 429."""
        return self._settle(key, await self.limiter.hit(key, limit))

    def _settle(self, key: str, decision: RateDecision) -> RateDecision:
        """Report the decision (for `RateLimit-*`); refuse with 429 if it is a refusal."""
        self.observer.observe(decision)
        if not decision.allowed:
            self.events.record(Throttled(scope=key.split(":", 1)[0]))
            raise RateLimited(decision.reset_after)
        return decision

    async def count(self, key: str, limit: RateLimit) -> RateDecision:
        decision = await self.limiter.hit(key, limit)
        self.observer.observe(decision)
        return decision

    async def reset(self, key: str, limit: RateLimit) -> None:
        await self.limiter.reset(key, limit)


@dataclass(frozen=True, slots=True)
class PrincipalThrottle(Throttle):
    """The throttle of the guard's per-principal limit, on the leased limiter
    (`PrincipalRateLimiter`), kept apart from the per-client and failure limits."""

    limiter: PrincipalRateLimiter

    def hit_nowait(self, key: str, limit: RateLimit) -> RateDecision | None:
        """`hit`, when the limiter decides without I/O (else None: then `hit`)."""
        decision = self.limiter.hit_nowait(key, limit)
        return None if decision is None else self._settle(key, decision)


class FailureBudget:
    """Failures of one kind per client address (bad refresh tokens, reset tokens, API keys).

    Past the budget, that address is refused with 429 for the rest of the window, before any
    lookup. Successes cost nothing here: a process remembers which addresses it saw exhaust
    their budget (the count itself is in the shared limiter), so the honest path makes no
    extra round trip. Another process learns it on that address's next failure there, so an
    address gets at most one more lookup per process per window.

    Every decision is reported (`RateLimit-*`): a failure's count, and a refusal before any
    lookup as the exhausted limit (Remaining 0, Reset the Retry-After it answers with).
    """

    MAX_REMEMBERED = 10_000

    __slots__ = ("_clock", "_spent", "_throttle")

    def __init__(self, throttle: Throttle, clock: Clock) -> None:
        self._throttle = throttle
        self._clock = clock
        # limiter key -> (when its window ends, in epoch seconds; the limit's amount)
        self._spent: dict[str, tuple[float, int]] = {}

    def check(self, key: str) -> None:
        """Refuse at once when this address has used up its budget."""
        spent = self._spent.get(key)
        if spent is None:
            return
        until, amount = spent
        now = self._clock.now().timestamp()
        if now < until:
            retry_after = math.ceil(until - now)
            self._throttle.observer.observe(RateDecision(False, amount, 0, retry_after))
            self._throttle.events.record(Throttled(scope=key.split(":", 1)[0]))
            raise RateLimited(retry_after)
        del self._spent[key]

    async def fail(self, key: str, limit: RateLimit) -> None:
        """Count one failure; the last one the budget allows marks the address as spent."""
        decision = await self._throttle.count(key, limit)
        if decision.allowed and decision.remaining > 0:
            return
        now = self._clock.now().timestamp()
        if len(self._spent) >= self.MAX_REMEMBERED:
            for stale in [k for k, (until, _) in self._spent.items() if until <= now]:
                del self._spent[stale]
            if len(self._spent) >= self.MAX_REMEMBERED:
                self._spent.clear()
        self._spent[key] = (now + decision.reset_after, decision.limit)
