"""Counting requests against limits, refusing politely over them, and reporting how close
each request came, so responses can say so in `RateLimit-*` headers."""

from __future__ import annotations

from dataclasses import dataclass

from musicez.application.ports import EventSink, RateDecision, RateLimiter, RateObserver
from musicez.domain.errors import RateLimited
from musicez.domain.rate_limit import RateLimit


@dataclass(frozen=True, slots=True)
class Throttle:
    limiter: RateLimiter
    observer: RateObserver
    events: EventSink

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        """Count one request; over the limit, refuse it with 429."""
        decision = await self.count(key, limit)
        if not decision.allowed:
            self.events.record("throttled", scope=key.split(":", 1)[0])
            raise RateLimited(decision.reset_after)
        return decision

    async def count(self, key: str, limit: RateLimit) -> RateDecision:
        decision = await self.limiter.hit(key, limit)
        self.observer.observe(decision)
        return decision

    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        decision = await self.limiter.peek(key, limit)
        self.observer.observe(decision)
        return decision

    async def reset(self, key: str, limit: RateLimit) -> None:
        await self.limiter.reset(key, limit)
