"""The leased limiter's hot path (a unit held for the very limit object asked about) agrees with
its full path: a changed limit for the same key, an equal new limit object, and a reset."""

from __future__ import annotations

from musicez.adapters.rate_lease import LeasedRateLimiter, MemoryQuotaStore
from musicez.domain.rate_limit import RateLimit

KEY = "principal:key:1"


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
