"""The fenced decorators on real Redis (one node, and the 3-master Cluster): served from the
cache without a round trip, and never after a revocation has returned, a killed channel or a flush."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from musicez.adapters.fence.caches import FencedApiKeyLookup, FencedSessionStore
from musicez.adapters.fence.core import session_message
from musicez.adapters.fence.redis import CONNECTION_NAME, OUTBOX_LIMIT, RedisFence
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.adapters.sql.repositories import SqlApiKeyLookup
from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.adapters.system import SystemClock
from musicez.application.api_keys import RevokeApiKey
from musicez.application.ports import SessionStore
from musicez.domain.api_key import ApiKey, display_prefix
from musicez.domain.errors import ServiceUnavailable
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.domain.session import Rotation, RotationOutcome, Session
from tests.support.fakes import FakeEvents
from tests.support.processes import private_redis

LEASE = 0.05
PING = 0.01


class CountingStore(RedisSessionStore):
    """The real Redis store, counting the reads that reach it."""

    reads = 0

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        self.reads += 1
        return await super().get(user_id, session_id)


@dataclass
class Pair:
    """Two "processes" (two fences, two Redis clients) over one store, as two servers would be."""

    inner: CountingStore
    a: FencedSessionStore
    b: FencedSessionStore
    fence_a: RedisFence
    fence_b: RedisFence


async def _pair(url: str, prefix: str) -> AsyncIterator[Pair]:
    clients: list[AnyRedis] = [connect(url), connect(url), connect(url)]
    inner = CountingStore(clients[0], prefix)
    fences = [
        RedisFence(c, prefix, lease=LEASE, ping_interval=PING, session_capacity=1000, key_capacity=10)
        for c in clients[1:]
    ]
    clock = SystemClock()
    a, b = (FencedSessionStore(inner, fence, clock) for fence in fences)
    pair = Pair(inner, a, b, *fences)
    try:
        yield pair
    finally:
        for fence in fences:
            await fence.close()
        for client in clients:
            await client.aclose()


async def _trusted(*fences: RedisFence, timeout: float = 5.0) -> None:
    for fence in fences:
        fence.start()
    deadline = time.monotonic() + timeout
    while not all(f.trusted() for f in fences):
        assert time.monotonic() < deadline, "the fence never became trusted"
        await asyncio.sleep(0.005)


def _session(hours: float = 1) -> Session:
    now = datetime.now(UTC)
    return Session(
        id=SessionId(uuid.uuid4()),
        user_id=UserId(uuid.uuid4()),
        device_name="test",
        created_at=now,
        last_used_at=now,
        refresh_expires_at=now + timedelta(hours=hours),
        absolute_expires_at=now + timedelta(hours=2 * hours),
        email="fence@example.com",
        user_created_at=now,
    )


async def _created(store: SessionStore, hours: float = 1) -> Session:
    session = _session(hours)
    await store.create(session, "refresh-mac")
    return session


@pytest.fixture(params=["redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "redis":
        return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return request.getfixturevalue("redis_cluster_url"), "fence"


@pytest.fixture
async def pair(backend: tuple[str, str]) -> AsyncIterator[Pair]:
    url, prefix = backend
    async for made in _pair(url, f"{prefix}:fence:{uuid.uuid4().hex[:8]}"):
        yield made


async def test_a_warm_read_makes_no_round_trip(pair: Pair) -> None:
    session = await _created(pair.inner)
    await _trusted(pair.fence_b)
    assert await pair.b.get(session.user_id, session.id) == session
    before = pair.inner.reads
    for _ in range(50):
        assert await pair.b.get(session.user_id, session.id) == session
    assert pair.inner.reads - before <= 2  # a late ping on a loaded box may send one to the store


async def test_cached_answers_only_from_a_trusted_cache(pair: Pair) -> None:
    """`cached` (no I/O) gives what a warm read would, and nothing it cannot vouch for: not a
    session never read here, and nothing once the channel is lost."""
    session = await _created(pair.inner)
    await _trusted(pair.fence_b)
    assert pair.b.cached(session.user_id, session.id) is None  # never read on B: ask `get`
    reads = pair.inner.reads
    assert await pair.b.get(session.user_id, session.id) == session
    assert pair.inner.reads == reads + 1
    deadline = time.monotonic() + 5
    while (found := pair.b.cached(session.user_id, session.id)) is None:  # a late ping on a loaded box
        assert time.monotonic() < deadline, "a warm, trusted cache never answered"
        await asyncio.sleep(0.005)
    assert found == session
    assert pair.inner.reads == reads + 1  # no read: the cache answered

    pair.fence_b.fence.on_lost()  # the channel is gone: nothing cached may be trusted
    assert pair.b.cached(session.user_id, session.id) is None


async def _own_pings(fence: RedisFence, seconds: float, *, asking: bool) -> int:
    """How many pings `fence` sends in `seconds`; with `asking`, its cache is asked for all
    along (as a guarded route's reads do)."""
    before = fence.pings_sent
    deadline = time.monotonic() + seconds
    while deadline - time.monotonic() > 0:
        if asking:
            fence.trusted()
        await asyncio.sleep(0.005)
    return fence.pings_sent - before


async def test_pings_run_at_full_rate_only_while_the_caches_are_asked_for(redis_url: str, redis_prefix: str) -> None:
    """An idle process (or one serving only public routes) does not keep 100 pings a second
    going; a guarded read brings the full rate back."""
    async for pair in _pair(redis_url, f"{redis_prefix}:fence:{uuid.uuid4().hex[:8]}"):
        fence = pair.fence_b
        await _trusted(fence)
        await asyncio.sleep(0.1)  # the demand of `_trusted` is spent
        idle = await _own_pings(fence, 1.0, asking=False)
        busy = await _own_pings(fence, 1.0, asking=True)
        assert 1 <= idle <= 1.0 / fence.idle_ping + 2  # the channel's health check keeps going
        assert busy >= 0.5 / PING  # every ping interval (half of them, on a loaded box)
        assert fence.trusted()


async def test_pings_reach_no_other_process(redis_url: str, redis_prefix: str) -> None:
    """A ping is a command on the pinging process's own subscriber connection: nothing of it is
    published, so a subscriber of the channel (every other process) hears no pings, whatever
    the number of processes; it still hears every invalidation."""
    async for pair in _pair(redis_url, f"{redis_prefix}:fence:{uuid.uuid4().hex[:8]}"):
        await _trusted(pair.fence_a, pair.fence_b)
        listener = Redis.from_url(redis_url)
        pubsub = listener.pubsub()
        try:
            await pubsub.subscribe(pair.fence_a.channel)
            heard: list[bytes] = []
            session = await _created(pair.inner)
            sent = pair.fence_a.pings_sent + pair.fence_b.pings_sent
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                pair.fence_a.trusted()
                pair.fence_b.trusted()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.005)
                if message is not None:
                    heard.append(message["data"])
            await pair.a.revoke(session.user_id, session.id)
            message = None
            for _ in range(100):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
                if message is not None:
                    break
            assert pair.fence_a.pings_sent + pair.fence_b.pings_sent - sent >= 20  # both pinged all along
            assert heard == []
            assert message is not None
            assert message["data"].startswith(b"s|")
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await listener.aclose()


async def test_a_revocation_on_one_process_is_obeyed_by_the_other_on_return(pair: Pair) -> None:
    await _trusted(pair.fence_a, pair.fence_b)
    latencies = []
    for i in range(60):
        session = await _created(pair.inner)
        assert await pair.b.get(session.user_id, session.id) is not None  # warm on B
        assert await pair.b.get(session.user_id, session.id) is not None
        started = time.perf_counter()
        if i % 3 == 0:
            await pair.a.revoke_all(session.user_id)
        else:
            await pair.a.revoke(session.user_id, session.id)
        latencies.append(time.perf_counter() - started)
        assert pair.b.cached(session.user_id, session.id) is None  # the guard's hot path
        assert pair.a.cached(session.user_id, session.id) is None
        assert await pair.b.get(session.user_id, session.id) is None
        assert await pair.a.get(session.user_id, session.id) is None
    assert min(latencies) >= LEASE  # the fence's price, paid by every revocation
    print(f"revocation latency p50 {statistics.median(latencies) * 1000:.1f} ms")  # noqa: T201 - the measurement, shown with `pytest -s`


async def test_logout_others_keeps_the_current_session_cached(pair: Pair) -> None:
    await _trusted(pair.fence_a, pair.fence_b)
    kept = await _created(pair.inner)
    other = _session()
    other = Session(
        id=other.id,
        user_id=kept.user_id,
        device_name="other",
        created_at=other.created_at,
        last_used_at=other.last_used_at,
        refresh_expires_at=other.refresh_expires_at,
        absolute_expires_at=other.absolute_expires_at,
    )
    await pair.inner.create(other, "other-mac")
    for s in (kept, other):
        assert await pair.b.get(s.user_id, s.id) is not None
    await pair.a.revoke_all(kept.user_id, keep=kept.id)
    assert await pair.b.get(other.user_id, other.id) is None
    before = pair.inner.reads
    assert await pair.b.get(kept.user_id, kept.id) is not None
    assert pair.inner.reads - before <= 1


async def test_an_expired_session_is_not_served_from_the_cache(pair: Pair) -> None:
    await _trusted(pair.fence_b)
    session = await _created(pair.inner, hours=0.4 / 3600)  # 0.4 s
    assert await pair.b.get(session.user_id, session.id) is not None
    await asyncio.sleep(0.5)
    assert await pair.b.get(session.user_id, session.id) is None


async def _stored_key(sessions: async_sessionmaker[AsyncSession], name: str) -> ApiKey:
    """A new API-key row, written to Postgres as `musicez api-keys create` would."""
    key_id = ApiKeyId(uuid.uuid4())
    key = ApiKey(key_id, name, display_prefix(key_id), "mac", datetime.now(UTC))
    uow = SqlUnitOfWork(sessions)
    async with uow:
        await uow.api_keys.add(key)
        await uow.commit()
    return key


def _lapse(fence: RedisFence) -> None:
    """As if this process's pings were late (a worker the machine did not schedule for a while):
    its last ping read back was sent long ago, so the lease has lapsed; the channel is still up."""
    fence.fence._confirmed_sent = time.monotonic() - 10 * fence.fence.lease  # noqa: SLF001 - the state a late ping leaves
    assert not fence.fence.trusted(time.monotonic())
    assert fence.fence.subscribed


async def _stall_pings(fence: RedisFence) -> None:
    """Stops the fence's pinger, then waits out a ping that was already on its way: one sent before
    the stall may still come back, and a lease later it is too old to make the cache trusted."""

    async def no_ping() -> None:
        return None

    fence._ping = no_ping  # type: ignore[method-assign]  # noqa: SLF001 - the pinger, stalled
    await asyncio.sleep(fence.fence.lease + 0.05)


async def test_a_lapsed_lease_waits_for_the_next_ping_not_the_store(pair: Pair) -> None:
    """When only the lease lapsed, a read of a cached session waits (at most a lease) for the
    next ping to come back and is served from the cache: a lapse does not send every request
    to the store. (Before, each read of the lapse was a round trip.)"""
    await _trusted(pair.fence_b)
    session = await _created(pair.inner)
    assert await pair.b.get(session.user_id, session.id) == session
    reads = pair.inner.reads
    waits = []
    for _ in range(40):
        _lapse(pair.fence_b)
        started = time.monotonic()
        assert await pair.b.get(session.user_id, session.id) == session
        waits.append(time.monotonic() - started)
        assert pair.fence_b.trusted()  # a ping came back: trusted again
    assert pair.inner.reads - reads <= 4  # a ping later than a lease on a loaded box reads the store
    assert max(waits) < LEASE + 0.5


async def test_a_lapse_never_serves_a_session_revoked_before_the_read(pair: Pair) -> None:
    """Strict revocation holds across a lapse: the read waits for a ping sent after it began,
    which comes back after the invalidation (the channel keeps order), and so finds it gone."""
    await _trusted(pair.fence_a, pair.fence_b)
    for _ in range(30):
        session = await _created(pair.inner)
        assert await pair.b.get(session.user_id, session.id) is not None  # warm on B
        _lapse(pair.fence_b)
        await pair.a.revoke(session.user_id, session.id)
        assert pair.b.cached(session.user_id, session.id) is None
        assert await pair.b.get(session.user_id, session.id) is None


async def test_a_lapse_whose_pings_never_come_back_waits_one_lease_then_reads(pair: Pair) -> None:
    """The wait is bounded: with the pings stopped, the read goes to the store after one lease,
    and reads of sessions not cached here never wait."""
    await _trusted(pair.fence_b)
    session = await _created(pair.inner)
    assert await pair.b.get(session.user_id, session.id) == session

    await _stall_pings(pair.fence_b)
    _lapse(pair.fence_b)
    reads = pair.inner.reads
    started = time.monotonic()
    assert await pair.b.get(session.user_id, session.id) == session
    waited = time.monotonic() - started
    assert pair.inner.reads == reads + 1
    assert LEASE * 0.9 <= waited < LEASE + 0.5

    other = await _created(pair.inner)
    started = time.monotonic()
    assert await pair.b.get(other.user_id, other.id) == other  # never cached here: read at once
    assert time.monotonic() - started < LEASE * 0.9


async def test_a_lapsed_lease_waits_for_the_next_ping_not_postgres(
    redis_url: str, redis_prefix: str, contract_postgres_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The same for API-key rows, whose store is a Postgres query."""
    prefix = f"{redis_prefix}:fence-keys:{uuid.uuid4().hex[:8]}"
    client = connect(redis_url)
    fence = RedisFence(client, prefix, lease=LEASE, ping_interval=PING, session_capacity=10, key_capacity=10)
    lookup = CountingLookup(contract_postgres_sessions)
    fenced = FencedApiKeyLookup(lookup, fence)
    try:
        await _trusted(fence)
        key = await _stored_key(contract_postgres_sessions, "lapsed")
        key_id = key.id
        assert await fenced.find(key_id) == key
        reads = lookup.reads
        for _ in range(40):
            _lapse(fence)
            assert await fenced.find(key_id) == key
        assert lookup.reads - reads <= 4
    finally:
        await fence.close()
        await client.aclose()


@pytest.fixture
async def private_pair() -> AsyncIterator[tuple[Pair, str]]:
    with private_redis() as server:
        async for made in _pair(server.url, "mez"):
            yield made, server.url


async def test_a_killed_channel_is_never_trusted_and_comes_back(private_pair: tuple[Pair, str]) -> None:
    pair, url = private_pair
    admin = Redis.from_url(url)
    try:
        await _trusted(pair.fence_a, pair.fence_b)
        resets = pair.fence_b.fence.resets
        for _ in range(20):
            session = await _created(pair.inner)
            assert await pair.b.get(session.user_id, session.id) is not None
            await admin.client_kill_filter(_type="pubsub")
            await pair.a.revoke(session.user_id, session.id)
            assert await pair.b.get(session.user_id, session.id) is None
        await _trusted(pair.fence_a, pair.fence_b)  # reconnected, and trusted again
        assert pair.fence_b.fence.resets > resets
    finally:
        await admin.aclose()


async def test_a_read_waiting_out_a_lapse_goes_to_the_store_once_the_channel_is_lost() -> None:
    """A lost channel ends the wait at once (no ping would), not at the end of the lease."""
    lease = 1.0  # long, so that "at once" is unmistakable on a loaded box
    with private_redis() as server:
        clients = [connect(server.url), connect(server.url)]
        inner = CountingStore(clients[0], "mez")
        fence = RedisFence(clients[1], "mez", lease=lease, ping_interval=PING, session_capacity=10, key_capacity=10)
        store = FencedSessionStore(inner, fence, SystemClock())
        admin = Redis.from_url(server.url)
        try:
            await _trusted(fence)
            session = await _created(inner)
            assert await store.get(session.user_id, session.id) == session

            await _stall_pings(fence)  # no ping will end the wait
            _lapse(fence)
            reads = inner.reads
            started = time.monotonic()
            waiting = asyncio.create_task(store.get(session.user_id, session.id))
            await asyncio.sleep(0.05)
            assert not waiting.done()  # waiting out the lapse
            await admin.client_kill_filter(_type="pubsub")
            assert await waiting == session  # from the store: the session lives
            assert time.monotonic() - started < lease / 2
            assert inner.reads == reads + 1
        finally:
            await fence.close()
            await admin.aclose()
            for client in clients:
                await client.aclose()


async def test_a_flush_clears_every_cache_within_the_lease(private_pair: tuple[Pair, str]) -> None:
    pair, url = private_pair
    admin = Redis.from_url(url)
    try:
        await _trusted(pair.fence_b)
        session = await _created(pair.inner)
        assert await pair.b.get(session.user_id, session.id) is not None
        await admin.flushall()
        await asyncio.sleep(LEASE + 0.005)
        assert await pair.b.get(session.user_id, session.id) is None
        await _trusted(pair.fence_b)  # a new marker, trusted again
    finally:
        await admin.aclose()


async def test_a_lost_marker_is_told_once_to_the_listeners_for_lost_data(pair: Pair) -> None:
    """Redis lost data (here: the marker key alone, as a flush of it would): each fence tells its
    listeners once (the leased rate limits drop what they hold, `LeasedRateLimiter.forget`), and
    not again while the new marker stays."""
    await _trusted(pair.fence_a, pair.fence_b)
    told: list[str] = []
    pair.fence_a.on_data_lost(lambda: told.append("a"))
    pair.fence_b.on_data_lost(lambda: told.append("b"))
    await pair.inner._redis.delete(pair.fence_a.marker_key)  # noqa: SLF001 - the store's own client
    deadline = time.monotonic() + 5
    while sorted(told) != ["a", "b"]:
        assert time.monotonic() < deadline, told
        await asyncio.sleep(0.005)
    await asyncio.sleep(20 * PING)  # many pings later
    assert sorted(told) == ["a", "b"]
    await _trusted(pair.fence_a, pair.fence_b)


async def test_without_redis_the_guard_read_answers_503_never_the_cache(private_pair: tuple[Pair, str]) -> None:
    from musicez.domain.errors import ServiceUnavailable

    pair, url = private_pair
    admin = Redis.from_url(url)
    await _trusted(pair.fence_b)
    session = await _created(pair.inner)
    assert await pair.b.get(session.user_id, session.id) is not None
    await admin.client_pause(3000, all=True)  # Redis hangs: nothing answers
    try:
        await asyncio.sleep(LEASE + 0.01)
        assert not pair.fence_b.trusted()
        with pytest.raises(ServiceUnavailable):
            await pair.b.get(session.user_id, session.id)
    finally:
        await admin.client_unpause()
        await admin.aclose()


async def test_micro_benchmark_of_the_guard_read(pair: Pair) -> None:
    """The per-request cost of the cached guard read against today's direct read (printed)."""
    session = await _created(pair.inner)
    await _trusted(pair.fence_b)
    await pair.b.get(session.user_id, session.id)
    rounds = 2000

    started = time.perf_counter()
    for _ in range(rounds):
        await pair.inner.get(session.user_id, session.id)
    direct = (time.perf_counter() - started) / rounds

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            await pair.b.get(session.user_id, session.id)
        best = min(best, (time.perf_counter() - started) / rounds)
    print(f"guard read: direct {direct * 1e6:.1f} us, cached {best * 1e6:.2f} us")  # noqa: T201 - the measurement, shown with `pytest -s`
    assert best < direct / 5


class _RotateOptions(TypedDict):
    now: datetime
    grace_seconds: int
    refresh_ttl_seconds: int
    generation: int | None


async def test_theft_detected_on_one_process_is_obeyed_by_the_other_on_return(pair: Pair) -> None:
    await _trusted(pair.fence_a, pair.fence_b)
    session = await _created(pair.inner)  # its current refresh MAC is "refresh-mac"
    assert await pair.b.get(session.user_id, session.id) is not None
    options: _RotateOptions = {
        "now": datetime.now(UTC),
        "grace_seconds": 0,
        "refresh_ttl_seconds": 3600,
        "generation": None,
    }
    rotated = await pair.a.rotate(
        session.user_id, session.id, presented_hash="refresh-mac", successor_hash="next", **options
    )
    assert rotated.outcome is RotationOutcome.ROTATED
    assert await pair.b.get(session.user_id, session.id) is not None
    started = time.perf_counter()
    reused = await pair.a.rotate(
        session.user_id, session.id, presented_hash="refresh-mac", successor_hash="again", **options
    )
    assert reused.outcome is RotationOutcome.REUSED
    assert time.perf_counter() - started >= LEASE
    assert await pair.b.get(session.user_id, session.id) is None


async def _dropped_by_b(pair: Pair, session: Session, timeout: float = 5.0) -> None:
    """B stops serving the session from its cache (the invalidation reached it), within `timeout`."""
    deadline = time.monotonic() + timeout
    while pair.b.cached(session.user_id, session.id) is not None:
        assert time.monotonic() < deadline, "the other process kept serving a revoked session"
        await asyncio.sleep(0.005)


async def test_a_revocation_whose_publish_failed_is_published_again_until_redis_takes_it(pair: Pair) -> None:
    """The logout's write stands but its publish fails (a pool connection reset, `maxclients`):
    the logout answers 503, and a retry would find nothing left to revoke on A. B must still hear
    of it: A sends it again until Redis takes it (the race review's F1)."""
    await _trusted(pair.fence_a, pair.fence_b)
    real_publish = pair.fence_a._publish  # noqa: SLF001 - the one call made to fail
    refusals = 3

    async def failing_publish(message: bytes) -> None:
        nonlocal refusals
        if refusals > 0:
            refusals -= 1
            raise ConnectionError("connection reset by peer")
        await real_publish(message)

    pair.fence_a._publish = failing_publish  # type: ignore[method-assign]  # noqa: SLF001
    for revoke_all in (False, True):
        refusals = 3
        session = await _created(pair.inner)
        assert await pair.b.get(session.user_id, session.id) is not None  # warm on B
        revoking = pair.a.revoke_all(session.user_id) if revoke_all else pair.a.revoke(session.user_id, session.id)
        with pytest.raises(ServiceUnavailable):
            await revoking
        assert await pair.a.get(session.user_id, session.id) is None  # the write stands: a retry finds nothing
        await _dropped_by_b(pair, session)
        assert await pair.b.get(session.user_id, session.id) is None
        assert refusals == 0


class LostReplies(CountingStore):
    """The real store, whose writes land and whose replies are then lost (a deadline, a reset socket)."""

    lose = False

    async def rotate(self, *args: Any, **kwargs: Any) -> Rotation:
        rotation = await super().rotate(*args, **kwargs)
        if self.lose:
            raise ServiceUnavailable("The session store is unavailable")
        return rotation

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        ended = await super().revoke(user_id, session_id, reason)
        if self.lose:
            raise ServiceUnavailable("The session store is unavailable")
        return ended


async def test_a_revoking_write_whose_reply_was_lost_still_reaches_the_other_process(backend: tuple[str, str]) -> None:
    """A theft found by the rotation script, or a revoke, whose reply never came back: the request
    answers 503, the session has ended in the store, and B must not keep serving it from its cache."""
    url, prefix = backend
    store = LostReplies(connect(url), f"{prefix}:fence:{uuid.uuid4().hex[:8]}")
    async for pair in _pair(url, store._prefix):  # noqa: SLF001 - the same prefix as the pair's
        pair.a._inner = pair.b._inner = store  # noqa: SLF001 - the store whose replies get lost
        pair.inner = store
        await _trusted(pair.fence_a, pair.fence_b)
        options: _RotateOptions = {
            "now": datetime.now(UTC),
            "grace_seconds": 0,
            "refresh_ttl_seconds": 3600,
            "generation": None,
        }
        theft = await _created(store)
        rotated = await pair.a.rotate(
            theft.user_id, theft.id, presented_hash="refresh-mac", successor_hash="n", **options
        )
        assert rotated.outcome is RotationOutcome.ROTATED
        logout = await _created(store)
        for session in (theft, logout):
            assert await pair.b.get(session.user_id, session.id) is not None  # warm on B
        store.lose = True
        with pytest.raises(ServiceUnavailable):  # the thief's replay: the script ends the session
            await pair.a.rotate(theft.user_id, theft.id, presented_hash="refresh-mac", successor_hash="x", **options)
        with pytest.raises(ServiceUnavailable):
            await pair.a.revoke(logout.user_id, logout.id)
        store.lose = False
        for session in (theft, logout):
            assert await store.get(session.user_id, session.id) is None  # ended in the store
            await _dropped_by_b(pair, session)
            assert await pair.b.get(session.user_id, session.id) is None
    await store._redis.aclose()  # noqa: SLF001


async def test_the_outbox_is_bounded_and_overflows_into_a_flush_of_every_cache(pair: Pair) -> None:
    """Past OUTBOX_LIMIT undelivered invalidations, A changes the flush marker instead: every
    process clears its caches, so no invalidation is lost and the outbox stays bounded."""
    await _trusted(pair.fence_a, pair.fence_b)
    session = await _created(pair.inner)
    assert await pair.b.get(session.user_id, session.id) is not None  # warm on B
    real_publish = pair.fence_a._publish  # noqa: SLF001
    blocked = True

    async def failing_publish(message: bytes) -> None:
        if blocked:
            raise ConnectionError("connection reset by peer")
        await real_publish(message)

    pair.fence_a._publish = failing_publish  # type: ignore[method-assign]  # noqa: SLF001
    for _ in range(OUTBOX_LIMIT + 1):  # none of them is B's session
        pair.fence_a.undelivered(session_message(UserId(uuid.uuid4()), SessionId(uuid.uuid4())))
    assert len(pair.fence_a._outbox) <= OUTBOX_LIMIT  # noqa: SLF001
    blocked = False
    await _dropped_by_b(pair, session)  # the marker changed: B cleared its caches


class CountingLookup(SqlApiKeyLookup):
    reads = 0

    async def find(self, key_id: ApiKeyId) -> ApiKey | None:
        self.reads += 1
        return await super().find(key_id)


async def test_a_revoked_api_key_row_is_refused_by_the_other_process_on_return(
    redis_url: str, redis_prefix: str, contract_postgres_sessions: async_sessionmaker[AsyncSession]
) -> None:
    prefix = f"{redis_prefix}:fence-keys:{uuid.uuid4().hex[:8]}"
    clients = [connect(redis_url), connect(redis_url)]
    fences = [
        RedisFence(c, prefix, lease=LEASE, ping_interval=PING, session_capacity=10, key_capacity=10) for c in clients
    ]
    lookup = CountingLookup(contract_postgres_sessions)
    on_b = FencedApiKeyLookup(lookup, fences[1])
    try:
        await _trusted(*fences)
        key = await _stored_key(contract_postgres_sessions, "fenced")
        key_id = key.id
        assert await on_b.find(key_id) == key
        reads = lookup.reads
        assert await on_b.find(key_id) == key
        assert lookup.reads - reads <= 1  # served from the cache
        revoke = RevokeApiKey(SqlUnitOfWork(contract_postgres_sessions), SystemClock(), FakeEvents(), fences[0])
        await revoke.execute(key_id)
        held = on_b.cached(key_id)  # the guard's hot path: the old row never comes back
        assert held is None or held.revoked_at is not None
        found = await on_b.find(key_id)
        assert found is not None
        assert found.revoked_at is not None
        assert await on_b.find(ApiKeyId(uuid.uuid4())) is None  # unknown ids: read every time, never cached
    finally:
        for fence in fences:
            await fence.close()
        for client in clients:
            await client.aclose()


async def test_a_spent_budget_told_on_one_process_is_heard_by_the_other_only(pair: Pair) -> None:
    """On the fence's own channel (a shard channel on the Cluster): the other process hears it
    once, the teller does not hear itself, and nothing cached is dropped for it."""
    heard: dict[str, list[tuple[str, int, int]]] = {"a": [], "b": []}
    pair.fence_a.on_budget_spent(lambda *mark: heard["a"].append(mark))
    pair.fence_b.on_budget_spent(lambda *mark: heard["b"].append(mark))
    session = await _created(pair.inner)
    await _trusted(pair.fence_a, pair.fence_b)
    assert await pair.b.get(session.user_id, session.id) == session
    name = "api-key-failures:" + uuid.uuid4().hex
    await pair.fence_a.budget_spent(name, 10, 3599)
    deadline = time.monotonic() + 5
    while not heard["b"]:
        assert time.monotonic() < deadline, "the other process never heard the spent budget"
        await asyncio.sleep(0.005)
    await asyncio.sleep(5 * PING)  # its own copy came back to A meanwhile, had it been delivered
    assert heard == {"a": [], "b": [(name, 10, 3599)]}
    assert pair.fence_b.fence.sessions.get((session.user_id, session.id)) == session  # still in B's cache


async def test_a_spent_budget_that_cannot_be_told_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    """The failure was counted; the others learn it on that address's next failure there."""
    client = connect("redis://127.0.0.1:1/0")  # nothing listens there
    fence = RedisFence(client, "mez", lease=LEASE, ping_interval=PING, session_capacity=10, key_capacity=10)
    try:
        await fence.budget_spent("refresh_failures:" + uuid.uuid4().hex, 60, 59)
    finally:
        await fence.close()
        await client.aclose()
    assert "could not tell the other processes of a spent failure budget" in caplog.text


async def test_a_channel_that_cannot_be_opened_is_told_once_and_never_trusted(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens: every retry fails. The fence stays untrusted (the guard reads the store) and
    says so once per outage, not on every retry, and by the error's type alone (the text of a
    refused HELLO may echo its arguments, the password among them)."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(f"redis://:never-logged@127.0.0.1:{port}/0")
    fence = RedisFence(client, "mez", lease=LEASE, ping_interval=PING, session_capacity=10, key_capacity=10)
    try:
        with caplog.at_level("WARNING", logger="musicez.fence"):
            fence.start()
            await asyncio.sleep(0.7)  # three retries or more (RETRY_DELAY 0.2 s)
            assert not fence.trusted()
        told = [r for r in caplog.records if "cannot be opened" in r.getMessage()]
        assert len(told) == 1
        assert "needs Redis 6+" in told[0].getMessage()
        assert "never-logged" not in caplog.text
    finally:
        await fence.close()
        await client.aclose()


async def test_a_ping_never_reopens_the_channel_connection(redis_url: str, redis_prefix: str) -> None:
    """redis-py reconnects a closed connection on its next command. A ping on the channel's closed
    connection must not: the fresh socket would be subscribed to nothing, and its replies would
    pass for pings that saw the channel. The ping fails instead (and the pinger with it)."""
    client = connect(redis_url)
    fence = RedisFence(client, redis_prefix, lease=LEASE, ping_interval=PING, session_capacity=10, key_capacity=10)
    connection = await fence._connection()  # noqa: SLF001 - the channel's connection, as `_listen` opens it
    try:
        await connection.disconnect()  # what redis-py does when a write on it fails
        fence._subscriber = connection  # noqa: SLF001 - as the pinger holds it
        with pytest.raises(ConnectionError):
            await fence._ping()  # noqa: SLF001
        assert not connection.is_connected
        assert fence.pings_sent == 0
    finally:
        await connection.disconnect()
        await fence.close()
        await client.aclose()


async def test_the_channel_connection_is_named_and_is_a_pubsub_client(redis_url: str, redis_prefix: str) -> None:
    """Operators find it in CLIENT LIST by its name, subscribed (`flags=P`, so `CLIENT KILL TYPE
    pubsub` ends it) and speaking RESP3 (the pings are commands on it)."""
    async for pair in _pair(redis_url, f"{redis_prefix}:fence:{uuid.uuid4().hex[:8]}"):
        await _trusted(pair.fence_a)
        connection = pair.fence_a._subscriber  # noqa: SLF001 - which client in the list is this fence's
        assert connection is not None
        writer = connection._writer  # noqa: SLF001
        assert writer is not None
        host, port = writer.get_extra_info("sockname")[:2]
        admin = Redis.from_url(redis_url)
        try:
            (ours,) = [c for c in await admin.client_list() if c["addr"] == f"{host}:{port}"]
        finally:
            await admin.aclose()
        assert ours["name"] == CONNECTION_NAME
        assert "P" in ours["flags"]
        assert ours["resp"] == "3"
