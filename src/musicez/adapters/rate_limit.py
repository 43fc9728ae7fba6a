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
from musicez.application.macs import rate_limit_name
from musicez.application.ports import KeyedHasher, RateDecision
from musicez.domain.rate_limit import RateLimit

_ITEMS: dict[str, type[RateLimitItem]] = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}


class LimitsRateLimiter:
    """Fixed windows counted by `limits`: one atomic increment per hit, one round trip.

    `limits` sets a window's expiry once, when its first hit creates the key, so the end of a
    window is known without asking: the hit that opens it (count 1) ends it `expiry` seconds
    later, and a window another process opened is asked for its TTL once and remembered.
    Only the `RateLimit-Reset`/`Retry-After` values come from this memory; every allow/deny
    decision is the counter in the store. A refused hit always reads the TTL again.

    Redis answers `TTL` in whole seconds rounded to the nearest (what `limits` reads), so a
    window read from Redis may end up to half a second after what it says: such an end is taken
    half a second later (never past a whole window from now), or a client that waits exactly
    its `Retry-After` would find the window still closed and be refused again.
    """

    MAX_REMEMBERED_WINDOWS = 100_000

    def __init__(self, storage: Storage, namespace: str, macs: KeyedHasher | None = None) -> None:
        self._storage = storage
        self._ttl_rounding = 0.0 if isinstance(storage, MemoryStorage) else 0.5  # see the class
        self._namespace = namespace
        self._macs = macs
        self._items: dict[RateLimit, RateLimitItem] = {}
        self._window_ends: dict[str, float] = {}

    def _key(self, key: str) -> str:
        """`scope:<keyed hash>`: a counter's name says which limit it is, never whose (a key such as
        `login-failures:<email>|<address>` would otherwise put emails and addresses in Redis)."""
        return key if self._macs is None else rate_limit_name(self._macs, key)

    def _item(self, limit: RateLimit) -> RateLimitItem:
        item = self._items.get(limit)
        if item is None:
            item = self._items[limit] = _ITEMS[limit.period](limit.amount, namespace=self._namespace)
        return item

    async def _window_end(self, key: str, expiry: int, *, exact: bool) -> float:
        now = time.time()
        end = self._window_ends.get(key)
        if exact or end is None or end <= now:
            end = await self._storage.get_expiry(key)
            if self._ttl_rounding:
                end = min(end + self._ttl_rounding, now + expiry)
            self._remember(key, end, now)
        return end

    def _remember(self, key: str, end: float, now: float) -> None:
        ends = self._window_ends
        if len(ends) >= self.MAX_REMEMBERED_WINDOWS:
            for stale in [k for k, v in ends.items() if v <= now]:
                del ends[stale]
            if len(ends) >= self.MAX_REMEMBERED_WINDOWS:
                ends.clear()
        ends[key] = end

    @staticmethod
    def _decision(item: RateLimitItem, count: int, window_end: float) -> RateDecision:
        reset_after = max(1, math.ceil(window_end - time.time()))
        return RateDecision(count <= item.amount, item.amount, max(0, item.amount - count), reset_after)

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        item = self._item(limit)
        storage_key = item.key_for(self._key(key))
        async with redis_outages("rate limiter"):
            expiry = item.get_expiry()
            count = await self._storage.incr(storage_key, expiry)
            if count == 1:  # this hit opened the window and set its expiry
                now = time.time()
                end = now + expiry
                self._remember(storage_key, end, now)
            else:
                end = await self._window_end(storage_key, expiry, exact=count > item.amount)
        return self._decision(item, count, end)

    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        item = self._item(limit)
        storage_key = item.key_for(self._key(key))
        async with redis_outages("rate limiter"):
            count = await self._storage.get(storage_key)
            end = await self._window_end(storage_key, item.get_expiry(), exact=True)
        decision = self._decision(item, count, end)
        return RateDecision(count < item.amount, decision.limit, decision.remaining, decision.reset_after)

    async def refund(self, key: str, limit: RateLimit) -> None:
        # Not one atomic step: two refunds racing for the last unit may leave the count one short
        # (one more request let through in that window), never one over.
        item = self._item(limit)
        storage_key = item.key_for(self._key(key))
        async with redis_outages("rate limiter"):
            if await self._storage.get(storage_key) > 0:
                await self._storage.incr(storage_key, item.get_expiry(), amount=-1)

    async def reset(self, key: str, limit: RateLimit) -> None:
        storage_key = self._item(limit).key_for(self._key(key))
        self._window_ends.pop(storage_key, None)
        async with redis_outages("rate limiter"):
            await self._storage.clear(storage_key)


# The storage's key prefix already says whose counters these are: the items' own namespace is short.
_ITEM_NAMESPACE = "w"


def memory_rate_limiter(namespace: str = "mez", macs: KeyedHasher | None = None) -> LimitsRateLimiter:
    return LimitsRateLimiter(MemoryStorage(), _ITEM_NAMESPACE, macs)


def redis_rate_limiter(url: str, namespace: str, macs: KeyedHasher | None = None) -> LimitsRateLimiter:
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
    return LimitsRateLimiter(storage, _ITEM_NAMESPACE, macs)
