"""The leased limiter's hot path (a unit held for the very limit object asked about) agrees with
its full path: a changed limit for the same key, an equal new limit object, and a reset."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.adapters.rate_lease import ENDED_MARGIN, Grant, LeasedRateLimiter, MemoryQuotaStore, QuotaStore, chunk_for
from musicez.domain.rate_limit import RateLimit

KEY = "principal:key:1"


class CountingStore(MemoryQuotaStore):
    def __init__(self, max_chunk: int = 64) -> None:
        super().__init__(max_chunk=max_chunk)
        self.leases = 0

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        self.leases += 1
        return await super().lease(key, limit, cap)


async def test_a_new_limit_for_the_same_key_counts_against_itself() -> None:
    limiter = LeasedRateLimiter(MemoryQuotaStore())
    old, new = RateLimit(100, "minute"), RateLimit(3, "minute")

    assert (await limiter.hit(KEY, old)).limit == 100
    decisions = [await limiter.hit(KEY, new) for _ in range(4)]

    assert [d.limit for d in decisions] == [3, 3, 3, 3]
    assert [d.allowed for d in decisions] == [True, True, True, False]


async def test_an_equal_limit_object_spends_what_is_held_for_its_twin() -> None:
    limiter = LeasedRateLimiter(MemoryQuotaStore())
    first = await limiter.hit(KEY, RateLimit(100, "minute"))  # leases 12 units, spends 1
    assert (first.allowed, first.remaining) == (True, 99)

    again = await limiter.hit(KEY, RateLimit(100, "minute"))  # a new object, equal: no new lease

    assert (again.allowed, again.remaining) == (True, 98)


async def test_a_reset_drops_what_the_hot_path_held() -> None:
    limiter = LeasedRateLimiter(MemoryQuotaStore())
    limit = RateLimit(100, "minute")
    for _ in range(3):
        await limiter.hit(KEY, limit)  # 12 units leased, 3 spent

    await limiter.reset(KEY, limit)
    after = await limiter.hit(KEY, limit)  # a fresh window: 12 leased, 1 spent

    assert (after.allowed, after.remaining) == (True, 99)


def fake_sleep(clock: list[float], waited: list[float]) -> Callable[[float], Awaitable[None]]:
    """A sleep on the fake clock: it moves the clock on, and notes how long it was asked to wait."""

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock[0] += seconds

    return sleep


class TailStore(QuotaStore):
    """One store window at a time on a fake clock; every reply travels `delay` seconds (the clock
    moves on while it does). PTTL in whole milliseconds, rounded down, as Redis answers."""

    def __init__(self, clock: list[float], delay: float) -> None:
        self.clock = clock
        self.delay = delay
        self.end: float | None = None
        self.used = 0
        self.leases = 0

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        now = self.clock[0]
        if self.end is None or now >= self.end:
            self.end, self.used = now + limit.seconds, 0
        chunk = chunk_for(limit.amount - self.used, 64, 8, cap=cap)
        self.used += chunk
        self.leases += 1
        ttl_ms = int((self.end - now) * 1000)
        self.clock[0] += self.delay  # the reply travels
        return Grant(chunk, self.used, ttl_ms)


@pytest.mark.parametrize("delay", [0.0001, 0.0003, 0.0005, 0.002])
async def test_leases_landing_in_the_last_millisecond_of_a_window_are_not_a_refusal(delay: float) -> None:
    """At the end of a window the process leases again; that lease can land in the store's last
    millisecond (its units already ended when the reply arrives). Leased again at once, it lands
    there again, as often as a round trip fits in what is left (the bench's soak found a 600/minute
    principal at half its limit refused that way, after three such leases). Far from the limit that
    is no reason to refuse: wait out what the store said was left, then lease in the next window."""
    clock = [0.0]
    store = TailStore(clock, delay=delay)
    waited: list[float] = []
    limiter = LeasedRateLimiter(store, clock=lambda: clock[0], sleep=fake_sleep(clock, waited))
    limit = RateLimit(1_000_000, "minute")
    assert (await limiter.hit(KEY, limit)).allowed  # the window [0, 60)

    clock[0] = 59.999  # past this process's end of that window, a millisecond before the store's
    decision = await limiter.hit(KEY, limit)

    assert decision.allowed
    assert store.leases == 3  # the first, one in the old window's last millisecond, one in the next
    assert len(waited) == 1
    assert waited[0] <= 0.001 + 0.003  # what was left of it, and the margin
    assert decision.reset_after == 60


class JitteryStore(QuotaStore):
    """One principal's store windows on a fake clock, as the Lua script counts them: each lease's
    request and reply take their own time (from `trips`, in turn), and the clock moves on while
    they travel. PTTL in whole milliseconds, rounded down; a key lives through its last one."""

    def __init__(self, clock: list[float], trips: list[tuple[float, float]]) -> None:
        self.clock = clock
        self.trips = trips
        self.windows: list[list[float]] = []  # [start, end, used]
        self.leases = 0

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        there, back = self.trips[self.leases % len(self.trips)]
        self.leases += 1
        self.clock[0] += there
        now_ms = math.floor(self.clock[0] * 1000)
        if not self.windows or now_ms > self.windows[-1][1]:
            self.windows.append([now_ms, now_ms + limit.seconds * 1000, 0])
        window = self.windows[-1]
        chunk = chunk_for(limit.amount - int(window[2]), 64, 8, cap=cap) if window[2] < limit.amount else 0
        window[2] += chunk
        ttl_ms = int(window[1] - now_ms)
        self.clock[0] += back
        return Grant(chunk, int(window[2]), ttl_ms)


trip = st.tuples(st.floats(0, 0.005), st.floats(0, 0.02))  # up to 25 ms a round trip, either way


@settings(max_examples=400, deadline=None)
@given(trips=st.lists(trip, min_size=1, max_size=6), at=st.floats(59.9, 60.1), used=st.integers(1, 300))
def test_at_a_windows_end_a_principal_far_from_its_limit_is_never_refused(
    trips: list[tuple[float, float]], at: float, used: int
) -> None:
    """Whatever each round trip takes, and wherever in a window's last milliseconds the request
    comes: a principal at half its limit or less is let through, with at most one lease landing
    in the ended window and one in the next, and the wait between them no longer than the round
    trip that found its window ended took, plus the margin."""

    async def scenario() -> None:
        clock = [0.0]
        store = JitteryStore(clock, trips)
        waited: list[float] = []
        limiter = LeasedRateLimiter(store, clock=lambda: clock[0], sleep=fake_sleep(clock, waited))
        limit = RateLimit(600, "minute")
        for _ in range(used):
            assert (await limiter.hit(KEY, limit)).allowed
        for _ in range(5):  # a refill in the background lands first
            await asyncio.sleep(0)
        leases_before = store.leases
        clock[0] = max(clock[0], at)

        decision = await limiter.hit(KEY, limit)

        assert decision.allowed
        assert store.leases - leases_before <= 2, (trips, at, used, store.windows, waited)
        assert len(waited) <= 1
        slowest = max(there + back for there, back in trips)
        assert all(w <= slowest + 0.001 + ENDED_MARGIN for w in waited)

    asyncio.run(scenario())


async def test_a_reply_overtaken_by_a_newer_leases_is_not_taken_for_lost_counts() -> None:
    """Two leases of one principal on their way at once (a request that waited long enough for the
    first sends its own): the store counts X (10 -> 15), then Y (15 -> 20), and Y's reply comes
    back first. X's reply then says less than this process has seen, which a lost count would
    too; but X was sent before Y, so its count is older, not gone back: both grants are kept."""
    clock = [0.0]
    limiter = LeasedRateLimiter(MemoryQuotaStore(), clock=lambda: clock[0])
    limit = RateLimit(600, "minute")
    slot = (KEY, limit)
    held, _ = limiter._apply(slot, 0.0, 0, Grant(10, 10, 60_000), 0.0, seq=1)  # noqa: SLF001
    limiter._apply(slot, 1.0, 0, Grant(5, 20, 59_000), 1.1, seq=3)  # noqa: SLF001  # Y, sent second
    limiter._apply(slot, 1.0, 0, Grant(5, 15, 59_000), 1.2, seq=2)  # noqa: SLF001  # X, sent first

    assert (held.units, held.used) == (20, 20)
    # A lease sent after both that finds the count gone back still drops what is held.
    limiter._apply(slot, 2.0, 0, Grant(4, 4, 58_000), 2.1, seq=4)  # noqa: SLF001
    assert limiter._held[slot].units == 4  # noqa: SLF001


class CountingLeases(MemoryQuotaStore):
    leases = 0

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        self.leases += 1
        return await super().lease(key, limit, cap)


async def test_hit_nowait_spends_only_what_is_held_and_counts_like_hit() -> None:
    """The guard's no-I/O path: None (never a lease) when no unit is held, else a unit spent as
    `hit` would spend it; mixed with `hit` over several windows' worth of calls, exactly the
    limit is allowed and no more."""
    store = CountingLeases()
    limiter = LeasedRateLimiter(store)
    limit = RateLimit(100, "minute")

    assert limiter.hit_nowait(KEY, limit) is None
    assert store.leases == 0
    first = await limiter.hit(KEY, limit)  # leases 12 (100 // 8), spends 1
    assert store.leases == 1
    nowait = limiter.hit_nowait(KEY, limit)
    assert nowait is not None
    assert (nowait.allowed, nowait.limit, nowait.remaining) == (True, 100, first.remaining - 1)

    allowed = 2
    for call in range(300):
        decision = limiter.hit_nowait(KEY, limit) if call % 3 else None
        if decision is None:
            decision = await limiter.hit(KEY, limit)
        allowed += decision.allowed
    assert allowed == 100
    assert limiter.hit_nowait(KEY, limit) is None  # exhausted: refusals come from `hit`
    assert not (await limiter.hit(KEY, limit)).allowed


async def test_far_from_the_limit_no_request_waits_for_the_store() -> None:
    """The next chunk is leased in the background when a quarter of the last one is left: a
    principal far from its limit is always served from what this process holds, and still
    never gets more than its limit."""
    store = CountingStore()
    limiter, limit = LeasedRateLimiter(store), RateLimit(10_000, "minute")
    assert (await limiter.hit("k", limit)).allowed  # the first request leases
    for _ in range(2_000):
        decision = limiter.hit_nowait("k", limit)
        assert decision is not None  # never "go and ask the store"
        assert decision.allowed
        await asyncio.sleep(0)  # the background lease completes between requests
    assert store.leases >= 2_001 // 64
    spent = 2_001
    while (decision := await limiter.hit("k", limit)).allowed:
        spent += 1
    assert spent == 10_000  # exact: every unit leased ahead was spent, none beyond the limit
    assert not decision.allowed


class GatedStore(CountingStore):
    """Each lease waits until the test opens the gate: before the store sees it (the request on
    its way) or, with `after`, once the store has granted it (the reply on its way)."""

    def __init__(self, max_chunk: int = 8, *, after: bool = False) -> None:
        super().__init__(max_chunk)
        self.after = after
        self.gate = asyncio.Event()
        self.gate.set()

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        if not self.after:
            await self.gate.wait()
        grant = await super().lease(key, limit, cap)
        if self.after:
            await self.gate.wait()
        return grant


async def test_a_request_that_runs_out_waits_for_the_refill_instead_of_leasing_again() -> None:
    """The refill counts as in flight from the moment it is decided, before its task runs: a
    second lease at the same time would strand units in this process (and, landing out of
    order, make Remaining wrong)."""
    store = GatedStore(max_chunk=8)
    limiter, limit = LeasedRateLimiter(store, first_chunk=8), RateLimit(10_000, "minute")
    assert (await limiter.hit(KEY, limit)).allowed  # lease 1: 8 units, 7 left
    for _ in range(7):  # down to 2 left starts the refill; no await, so its task has not run yet
        assert limiter.hit_nowait(KEY, limit) is not None
    assert limiter.hit_nowait(KEY, limit) is None  # nothing held
    assert (await limiter.hit(KEY, limit)).allowed  # waits for the refill's chunk
    for _ in range(5):  # whatever else was scheduled runs
        await asyncio.sleep(0)
    assert store.leases == 2


async def test_a_refill_on_its_way_during_a_reset_brings_back_no_units() -> None:
    """Granted in the window the reset clears, its reply arriving after: those units are counted
    nowhere any more, so spending them would give the principal more than its limit."""
    store = GatedStore(max_chunk=8, after=True)
    limiter, limit = LeasedRateLimiter(store, first_chunk=8), RateLimit(64, "minute")
    assert (await limiter.hit(KEY, limit)).allowed  # 8 units, 7 left
    store.gate.clear()
    for _ in range(5):  # down to 2 left: the refill is granted and its reply waits at the gate
        assert limiter.hit_nowait(KEY, limit) is not None
    await asyncio.sleep(0)
    assert store.leases == 2
    await limiter.reset(KEY, limit)
    store.gate.set()
    await asyncio.sleep(0)
    decisions = [await limiter.hit(KEY, limit) for _ in range(100)]
    assert sum(d.allowed for d in decisions) == limit.amount  # a fresh window: exactly the limit


async def test_aclose_leaves_no_refill_on_its_way() -> None:
    store = GatedStore(max_chunk=8)
    limiter, limit = LeasedRateLimiter(store, first_chunk=8), RateLimit(10_000, "minute")
    assert (await limiter.hit(KEY, limit)).allowed
    store.gate.clear()
    for _ in range(5):  # 7 -> 2 left: the refill goes out and waits at the gate
        limiter.hit_nowait(KEY, limit)
    await asyncio.sleep(0)
    await limiter.aclose()
    assert store.leases == 1  # the refill never reached the store
    assert limiter.hit_nowait(KEY, limit) is not None  # what was held is still there


def _lose_counts(store: MemoryQuotaStore) -> None:
    """What a Redis flush, a restart without persistence or a failover does to the store."""
    store._windows.clear()  # noqa: SLF001


async def _allowed_until_refused(limiter: LeasedRateLimiter, limit: RateLimit) -> int:
    allowed = 0
    while (await limiter.hit(KEY, limit)).allowed:
        allowed += 1
        assert allowed <= 2 * limit.amount
    return allowed


async def test_units_held_when_the_store_lost_its_counts_are_dropped_once_told() -> None:
    """The fence saw Redis lose data (its marker changed) and told the limiters (`forget`): of
    the units they leased before, none is spent; the store's new window gives exactly the limit."""
    store = MemoryQuotaStore()
    limit = RateLimit(100, "minute")
    first, second = LeasedRateLimiter(store), LeasedRateLimiter(store)
    for limiter in (first, second):
        assert (await limiter.hit(KEY, limit)).allowed  # each leases 12 (or 11) units, spends one
    _lose_counts(store)
    first.forget()
    second.forget()
    allowed = 0
    for _ in range(3 * limit.amount):
        allowed += (await first.hit(KEY, limit)).allowed + (await second.hit(KEY, limit)).allowed
    assert allowed == limit.amount


async def test_a_lease_that_finds_the_count_gone_back_drops_what_was_held() -> None:
    """Before the fence notices, the next lease does: the store counted fewer units than this
    process had seen plus its new grant, so what it still held from before is dropped. Only the
    unit spent between the loss and that lease comes on top of the store's new window."""
    store = MemoryQuotaStore()
    limit = RateLimit(100, "minute")
    limiter = LeasedRateLimiter(store, first_chunk=64)  # no slow start: chunks of what is left ÷ 8
    for _ in range(8):
        assert (await limiter.hit(KEY, limit)).allowed  # 12 leased, 8 spent: 4 held
    _lose_counts(store)
    assert (await limiter.hit(KEY, limit)).allowed  # an old unit; down to 3 it sends the refill
    await asyncio.sleep(0)  # the refill lands: 12 units of the store's new window
    assert await _allowed_until_refused(limiter, limit) == limit.amount


async def test_a_long_window_ends_here_a_ten_thousandth_early() -> None:
    """This host's monotonic clock and Redis's may run at rates tens of millionths apart: over a
    day, seconds. A process stops spending a window's units a ten-thousandth of what was left
    before the store's end (and a millisecond), so it never spends them in the store's next one."""
    clock = [0.0]
    limiter = LeasedRateLimiter(MemoryQuotaStore(clock=lambda: clock[0]), clock=lambda: clock[0])
    limit = RateLimit(1_000_000, "day")
    assert (await limiter.hit(KEY, limit)).allowed  # a window of 86,400 s: units held

    clock[0] = 86_400 * 0.9999 - 0.002  # inside the process's end
    assert limiter.hit_nowait(KEY, limit) is not None
    clock[0] = 86_400 * 0.9999  # 8.6 s before the store's end: no longer spent here
    assert limiter.hit_nowait(KEY, limit) is None
