"""Rate limits counted by the `limits` library, in Redis or in process memory."""

from __future__ import annotations

import math
import time

from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
)
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage

from musicez.adapters.redis.client import client_options, is_cluster_url, redis_outages, strip_cluster_scheme
from musicez.application.ports import RateDecision
from musicez.domain.rate_limit import RateLimit

_ITEMS: dict[str, type[RateLimitItem]] = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}


class LimitsRateLimiter:
    """Fixed windows: one atomic increment and one TTL read per hit."""

    def __init__(self, storage: Storage, namespace: str) -> None:
        self._storage = storage
        self._namespace = namespace
        self._items: dict[RateLimit, RateLimitItem] = {}

    def _item(self, limit: RateLimit) -> RateLimitItem:
        item = self._items.get(limit)
        if item is None:
            item = self._items[limit] = _ITEMS[limit.period](limit.amount, namespace=self._namespace)
        return item

    async def _decision(self, item: RateLimitItem, key: str, count: int) -> RateDecision:
        reset_at = await self._storage.get_expiry(key)
        reset_after = max(1, math.ceil(reset_at - time.time()))
        return RateDecision(count <= item.amount, item.amount, max(0, item.amount - count), reset_after)

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        item = self._item(limit)
        storage_key = item.key_for(key)
        async with redis_outages("rate limiter"):
            count = await self._storage.incr(storage_key, item.get_expiry())
            return await self._decision(item, storage_key, count)

    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        item = self._item(limit)
        storage_key = item.key_for(key)
        async with redis_outages("rate limiter"):
            count = await self._storage.get(storage_key)
            decision = await self._decision(item, storage_key, count)
        return RateDecision(count < item.amount, decision.limit, decision.remaining, decision.reset_after)

    async def reset(self, key: str, limit: RateLimit) -> None:
        async with redis_outages("rate limiter"):
            await self._storage.clear(self._item(limit).key_for(key))


def memory_rate_limiter(namespace: str = "mez") -> LimitsRateLimiter:
    return LimitsRateLimiter(MemoryStorage(), namespace)


def redis_rate_limiter(url: str, namespace: str) -> LimitsRateLimiter:
    options = client_options()
    storage: Storage
    if is_cluster_url(url):
        storage = RedisClusterStorage(
            "async+redis+cluster://" + strip_cluster_scheme(url).removeprefix("redis://"),
            implementation="redispy",
            key_prefix=namespace,
            **options,  # type: ignore[arg-type]
        )
    else:
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=namespace,
            **options,  # type: ignore[arg-type]
        )
    return LimitsRateLimiter(storage, namespace)
