"""Retry-After from a window read back from Redis: Redis answers `TTL` in whole seconds rounded
to the nearest, so a window may end up to half a second after what it says. A client that waits
exactly its Retry-After must find the window over."""

from __future__ import annotations

import time

import pytest
from limits.aio.storage import RedisStorage

from musicez.adapters.rate_limit import LimitsRateLimiter
from musicez.domain.rate_limit import RateLimit


class RoundingRedis(RedisStorage):
    """Redis as `limits` sees it, without a server: one counter whose window ends at `end`, and
    `get_expiry` from TTL rounded to the nearest second (Redis's `(pttl + 500) / 1000`)."""

    def __init__(self, left: float) -> None:  # no connection: only the two calls below are used
        self.end = time.time() + left
        self.count = 0

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        self.count += amount
        return self.count

    async def get_expiry(self, key: str) -> float:
        pttl = (self.end - time.time()) * 1000
        return max(int((pttl + 500) // 1000), 0) + time.time()


@pytest.mark.parametrize("left", [0.6, 12.4, 30.49, 44.01, 59.6])
async def test_retry_after_is_never_short_of_the_window_read_from_redis(left: float) -> None:
    storage = RoundingRedis(left)
    limiter = LimitsRateLimiter(storage, "w")
    storage.count = 5  # another process opened the window and spent it

    refused = await limiter.hit("login-failures:x", RateLimit(5, "minute"))

    assert not refused.allowed
    assert refused.reset_after >= storage.end - time.time()  # waiting it out, the window is over
    assert refused.reset_after <= 60  # never past a whole window
