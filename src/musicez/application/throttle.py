"""Counting requests against limits, refusing politely over them, and reporting how close
each request came, so responses can say so in `RateLimit-*` headers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from musicez.application.macs import rate_limit_name
from musicez.application.ports import (
    Clock,
    EventSink,
    KeyedHasher,
    PrincipalRateLimiter,
    RateDecision,
    RateLimiter,
    RateObserver,
    SpentBudgetNotifier,
)
from musicez.domain.errors import RateLimited, ServiceUnavailable
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
    lookup, by every server process. Successes cost nothing here: the count is in the shared
    limiter, and a process remembers which addresses are spent, so the honest path makes no
    extra round trip. The failure that spends a budget (the limiter's count reaching it: one
    per address, budget and window across all processes) is told to every process through
    the `SpentBudgetNotifier` (the fence's channel with Redis), which remembers it too. A
    process that was not listening then (started later, or its channel down) learns it on
    that address's next failure there, as the counting process did: at most one more lookup.

    Every decision is reported (`RateLimit-*`): a failure's count, and a refusal before any
    lookup as the exhausted limit (Remaining 0, Reset the Retry-After it answers with).
    """

    MAX_REMEMBERED = 10_000

    __slots__ = ("_clock", "_heard", "_macs", "_names", "_notifier", "_spent", "_throttle")

    def __init__(self, throttle: Throttle, clock: Clock, macs: KeyedHasher, notifier: SpentBudgetNotifier) -> None:
        self._throttle = throttle
        self._clock = clock
        self._macs = macs
        self._notifier = notifier
        # limiter key -> (when its window ends, in epoch seconds; the limit's amount)
        self._spent: dict[str, tuple[float, int]] = {}
        # The same, told by other processes: by budget name (`rate_limit_name`), which a check
        # finds by naming its key (a keyed hash, 2 µs: remembered in `_names`, and only asked
        # for while anything was heard at all).
        self._heard: dict[str, tuple[float, int]] = {}
        self._names: dict[str, str] = {}
        notifier.on_budget_spent(self.heard)

    def check(self, key: str) -> None:
        """Refuse at once when this address has used up its budget."""
        spent = self._spent.get(key)
        if spent is None:
            if not self._heard:
                return
            spent = self._heard.pop(self._name(key), None)
            if spent is None:
                return
            self._remember(self._spent, key, spent, self._clock.now().timestamp())  # found by its key from now on
        until, amount = spent
        now = self._clock.now().timestamp()
        if now < until:
            retry_after = math.ceil(until - now)
            self._throttle.observer.observe(RateDecision(False, amount, 0, retry_after))
            self._throttle.events.record(Throttled(scope=key.split(":", 1)[0]))
            raise RateLimited(retry_after)
        del self._spent[key]

    async def fail(self, key: str, limit: RateLimit) -> None:
        """Count one failure; the last one the budget allows marks the address as spent, here
        and, told once, in every other process."""
        decision = await self._throttle.count(key, limit)
        if decision.allowed and decision.remaining > 0:
            return
        now = self._clock.now().timestamp()
        self._remember(self._spent, key, (now + decision.reset_after, decision.limit), now)
        if decision.allowed:  # the count reached the budget: this failure spent it
            await self._notifier.budget_spent(rate_limit_name(self._macs, key), decision.limit, decision.reset_after)

    async def describe(self, key: str, limit: RateLimit) -> None:
        """Report the budget as it stands, counting nothing: the `RateLimit-*` of a success on a
        route whose failures it counts (a completed reset, a working not-me link). With no
        failure in an open window, the whole budget and a whole window. Only a header is at
        stake, so a store that cannot answer leaves it out rather than fail what succeeded."""
        try:
            decision = await self._throttle.limiter.peek(key, limit)
        except ServiceUnavailable:
            return
        if decision.remaining >= decision.limit:
            decision = RateDecision(True, decision.limit, decision.limit, limit.seconds)
        self._throttle.observer.observe(decision)

    def heard(self, name: str, limit: int, reset_after: int) -> None:
        """Another process says the budget `name` is spent for `reset_after` more seconds."""
        now = self._clock.now().timestamp()
        self._remember(self._heard, name, (now + reset_after, limit), now)

    def _name(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            if len(self._names) >= self.MAX_REMEMBERED:
                self._names.clear()
            name = self._names[key] = rate_limit_name(self._macs, key)
        return name

    def _remember(self, marks: dict[str, tuple[float, int]], key: str, mark: tuple[float, int], now: float) -> None:
        if len(marks) >= self.MAX_REMEMBERED:
            for stale in [k for k, (until, _) in marks.items() if until <= now]:
                del marks[stale]
            if len(marks) >= self.MAX_REMEMBERED:
                marks.clear()
        marks[key] = mark
