"""`FailureBudget` across processes: the failure that spends an address's budget is told once,
and every process listening refuses that address from then on, before any lookup; what travels
names the budget by a keyed hash, never the address."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.application.ports import RateDecision, SpentBudgetListener
from musicez.application.throttle import FailureBudget, Throttle
from musicez.domain.errors import RateLimited, ServiceUnavailable
from musicez.domain.rate_limit import RateLimit
from tests.support.fakes import FakeClock, FakeEvents, FakeRateLimiter, FakeRateObserver

MACS = HmacHasher(b"failure-budget-test-key-0123456789abcdef")
ADDRESSES = ("198.51.100.1", "198.51.100.2", "2001:db8::7")


@dataclass
class Channel:
    """The fence's channel, delivering at once to every other process listening."""

    listeners: dict[int, SpentBudgetListener] = field(default_factory=dict)
    told: list[tuple[str, int, int]] = field(default_factory=list)

    def of(self, process: int) -> ProcessNotifier:
        return ProcessNotifier(self, process)


@dataclass
class ProcessNotifier:
    channel: Channel
    process: int

    async def budget_spent(self, name: str, limit: int, reset_after: int) -> None:
        self.channel.told.append((name, limit, reset_after))
        for process, listener in self.channel.listeners.items():
            if process != self.process:
                listener(name, limit, reset_after)

    def on_budget_spent(self, listener: SpentBudgetListener) -> None:
        self.channel.listeners[self.process] = listener


def _budgets(processes: int, channel: Channel, limiter: FakeRateLimiter, clock: FakeClock) -> list[FailureBudget]:
    return [
        FailureBudget(Throttle(limiter, FakeRateObserver(), FakeEvents()), clock, MACS, channel.of(p))
        for p in range(processes)
    ]


async def _attempt(budget: FailureBudget, key: str, limit: RateLimit, lookups: dict[str, int]) -> bool:
    """One request with a bad credential, as the use cases make it: refused (True) or looked up
    and counted."""
    try:
        budget.check(key)
    except RateLimited:
        return True
    lookups[key] = lookups.get(key, 0) + 1
    await budget.fail(key, limit)
    return False


@given(
    amount=st.integers(1, 5),
    processes=st.integers(2, 4),
    requests=st.lists(st.tuples(st.integers(0, 3), st.integers(0, len(ADDRESSES) - 1)), max_size=60),
)
def test_a_spent_budget_is_refused_everywhere_at_once(
    amount: int, processes: int, requests: list[tuple[int, int]]
) -> None:
    async def scenario() -> None:
        limit = RateLimit(amount, "hour")
        channel, limiter = Channel(), FakeRateLimiter()
        budgets = _budgets(processes, channel, limiter, FakeClock())
        lookups: dict[str, int] = {}
        for process, address in requests:
            key = f"api-key-failures:{ADDRESSES[address]}"
            spent = lookups.get(key, 0) == amount
            assert await _attempt(budgets[process % processes], key, limit, lookups) == spent
            if lookups.get(key, 0) == amount:  # spent: every process refuses it, before any lookup
                for budget in budgets:
                    with pytest.raises(RateLimited):
                        budget.check(key)
        for key, looked_up in lookups.items():
            assert looked_up <= amount  # never one more lookup on a process that did not count it
            assert limiter.counts[(key, limit)] == looked_up
        spent_keys = {key for key, looked_up in lookups.items() if looked_up == amount}
        assert len(channel.told) == len(spent_keys)  # told once per address, by the failure that spent it
        for name, told_limit, reset_after in channel.told:
            assert told_limit == amount
            assert reset_after == limit.seconds
            assert name.startswith("api-key-failures:")
            assert not any(address in name for address in ADDRESSES)
        for key in {f"api-key-failures:{a}" for a in ADDRESSES} - spent_keys:
            for budget in budgets:
                budget.check(key)  # not spent: not refused anywhere

    asyncio.run(scenario())


async def test_a_process_that_was_not_listening_learns_on_its_own_next_failure() -> None:
    limit = RateLimit(2, "minute")
    channel, limiter, clock = Channel(), FakeRateLimiter(), FakeClock()
    (early,) = _budgets(1, channel, limiter, clock)
    key, lookups = "refresh_failures:198.51.100.9", dict[str, int]()
    assert not await _attempt(early, key, limit, lookups)
    assert not await _attempt(early, key, limit, lookups)
    late = FailureBudget(Throttle(limiter, FakeRateObserver(), FakeEvents()), clock, MACS, channel.of(1))
    late.check(key)  # told before it listened: not replayed
    assert not await _attempt(late, key, limit, lookups)  # one more lookup, then refused as before
    assert await _attempt(late, key, limit, lookups)
    assert len(channel.told) == 1


async def test_a_heard_mark_ends_with_its_window_on_the_receivers_clock() -> None:
    limit = RateLimit(1, "minute")
    channel, limiter = Channel(), FakeRateLimiter()
    clock_a, clock_b = FakeClock(), FakeClock()
    clock_b.advance(-3600)  # another host, an hour behind: the window's end travels as seconds left
    a = FailureBudget(Throttle(limiter, FakeRateObserver(), FakeEvents()), clock_a, MACS, channel.of(0))
    observer_b = FakeRateObserver()
    b = FailureBudget(Throttle(limiter, observer_b, FakeEvents()), clock_b, MACS, channel.of(1))
    key = "reset-failures:203.0.113.50"
    await a.fail(key, limit)
    clock_b.advance(59)
    with pytest.raises(RateLimited) as refused:
        b.check(key)
    assert refused.value.retry_after == 1
    assert observer_b.decisions[-1] == (False, 1, 0, 1)
    clock_b.advance(1)
    b.check(key)  # the window is over on B's clock
    b.check(key)


class DownLimiter(FakeRateLimiter):
    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        raise ServiceUnavailable()


@given(failures=st.integers(0, 6))
def test_describe_states_the_budget_as_the_failures_left_it_and_counts_nothing(failures: int) -> None:
    async def scenario() -> None:
        limit, limiter, observer = RateLimit(5, "hour"), FakeRateLimiter(), FakeRateObserver()
        budget = FailureBudget(Throttle(limiter, observer, FakeEvents()), FakeClock(), MACS, Channel().of(0))
        for _ in range(failures):
            await budget.fail("reset-failures:198.51.100.1", limit)
        observer.decisions.clear()
        await budget.describe("reset-failures:198.51.100.1", limit)
        await budget.describe("reset-failures:198.51.100.1", limit)  # counts nothing
        (first, second) = observer.decisions
        assert first == second
        assert (first.limit, first.remaining) == (5, max(0, 5 - failures))
        if failures == 0:  # no window open yet: a whole one ahead
            assert first.reset_after == limit.seconds

    asyncio.run(scenario())


def test_describe_leaves_the_headers_out_when_the_store_cannot_answer() -> None:
    async def scenario() -> None:
        observer = FakeRateObserver()
        budget = FailureBudget(Throttle(DownLimiter(), observer, FakeEvents()), FakeClock(), MACS, Channel().of(0))
        await budget.describe("not-me-failures:198.51.100.1", RateLimit(60, "minute"))  # no 503 for a success
        assert observer.decisions == []

    asyncio.run(scenario())
