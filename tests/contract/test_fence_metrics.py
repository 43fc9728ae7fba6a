"""The fence's counters on real Redis: what its caches could not answer, the lapses waited out,
the channel lost and Redis flushed. A cache hit counts nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from musicez.adapters.fence.caches import FencedSessionStore
from musicez.adapters.fence.metrics import FenceMetrics
from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.system import SystemClock
from tests.contract.test_fence import LEASE, PING, CountingStore, _created, _lapse, _stall_pings, _trusted
from tests.support.processes import private_redis


@dataclass
class Counted:
    inner: CountingStore
    store: FencedSessionStore
    fence: RedisFence
    registry: CollectorRegistry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def reads(self, reason: str) -> float:
        return self.value("musicez_guard_store_reads_total", cache="session", reason=reason)

    def waits(self, outcome: str) -> float:
        return self.value("musicez_fence_lapse_waits_total", outcome=outcome)

    def resets(self, cause: str) -> float:
        return self.value("musicez_fence_resets_total", cause=cause)


async def _counted(url: str, prefix: str) -> AsyncIterator[Counted]:
    clients: list[AnyRedis] = [connect(url), connect(url)]
    registry = CollectorRegistry()
    fence = RedisFence(
        clients[1],
        prefix,
        lease=LEASE,
        ping_interval=PING,
        session_capacity=100,
        key_capacity=10,
        metrics=FenceMetrics(registry),
    )
    inner = CountingStore(clients[0], prefix)
    try:
        yield Counted(inner, FencedSessionStore(inner, fence, SystemClock()), fence, registry)
    finally:
        await fence.close()
        for client in clients:
            await client.aclose()


@pytest.fixture
async def counted(redis_url: str, redis_prefix: str) -> AsyncIterator[Counted]:
    async for made in _counted(redis_url, f"{redis_prefix}:fence-metrics:{uuid.uuid4().hex[:8]}"):
        yield made


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_every_label_set_is_there_from_the_start_at_zero(counted: Counted) -> None:
    """Bounded series: the counters' label sets are fixed (and exported before anything happened)."""
    names = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in counted.registry.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert names == {
        *(
            ("musicez_guard_store_reads_total", (("cache", cache), ("reason", reason)))
            for cache in ("session", "api_key")
            for reason in ("not_cached", "untrusted")
        ),
        ("musicez_fence_lapse_waits_total", (("outcome", "trusted"),)),
        ("musicez_fence_lapse_waits_total", (("outcome", "store"),)),
        ("musicez_fence_resets_total", (("cause", "channel_lost"),)),
        ("musicez_fence_resets_total", (("cause", "flushed"),)),
    }
    assert all(counted.registry.get_sample_value(name, dict(labels)) == 0 for name, labels in names)


async def test_reads_the_cache_could_not_answer_are_counted_by_reason_and_hits_are_not(counted: Counted) -> None:
    # Not subscribed yet: nothing is trusted, the read goes to the store as untrusted.
    session = await _created(counted.inner)
    assert await counted.store.get(session.user_id, session.id) == session
    assert counted.reads("untrusted") == 1
    await _trusted(counted.fence)

    other = await _created(counted.inner)
    assert await counted.store.get(other.user_id, other.id) == other  # first read here
    assert counted.reads("not_cached") == 1
    for _ in range(50):
        assert await counted.store.get(other.user_id, other.id) == other  # hits
    assert counted.reads("not_cached") == 1
    assert counted.reads("untrusted") == 1
    assert counted.inner.reads == 2  # the counters say what the store saw


async def test_lapses_waited_out_are_counted_with_how_they_ended(counted: Counted) -> None:
    await _trusted(counted.fence)
    session = await _created(counted.inner)
    assert await counted.store.get(session.user_id, session.id) == session
    reads = counted.inner.reads
    for _ in range(10):
        _lapse(counted.fence)
        assert await counted.store.get(session.user_id, session.id) == session
    # Each lapse was waited out once; a ping later than a lease on a loaded box reads the store.
    assert counted.waits("trusted") + counted.waits("store") == 10
    assert counted.waits("store") == counted.inner.reads - reads == counted.reads("untrusted")

    await _stall_pings(counted.fence)
    before = counted.waits("store"), counted.reads("untrusted")
    _lapse(counted.fence)
    assert await counted.store.get(session.user_id, session.id) == session
    assert (counted.waits("store"), counted.reads("untrusted")) == (before[0] + 1, before[1] + 1)


@pytest.fixture
async def private_counted() -> AsyncIterator[tuple[Counted, str]]:
    with private_redis() as server:
        async for made in _counted(server.url, "mez"):
            yield made, server.url


async def test_a_lost_channel_and_a_flush_are_counted_once_each(private_counted: tuple[Counted, str]) -> None:
    counted, url = private_counted
    admin = Redis.from_url(url)
    try:
        await _trusted(counted.fence)
        await admin.client_kill_filter(_type="pubsub")
        await _eventually(lambda: counted.resets("channel_lost") == 1, "the lost channel was not counted")
        await _trusted(counted.fence)  # reconnected
        assert counted.resets("channel_lost") == 1
        assert counted.resets("flushed") == 0

        await admin.flushall()
        await _eventually(lambda: counted.resets("flushed") == 1, "the flush was not counted")
        await _trusted(counted.fence)
        await asyncio.sleep(10 * PING)  # pings keep running on the new marker: no second count
        assert counted.resets("flushed") == 1
        assert counted.resets("channel_lost") == 1
    finally:
        await admin.aclose()
