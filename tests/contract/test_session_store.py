"""The SessionStore contract, for the memory store and the Redis store (one node and Cluster).

Times are real wall-clock times: Redis expires keys by its own clock. `now` is passed
explicitly wherever the port takes it; the memory store gets a clock set to the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from redis.typing import EncodableT, FieldT

from musicez.adapters.memory.host_revocations import HostRevocations, HostSessionViews, HostSharedSessionStore
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.application.ports import SessionStore
from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, RotationOutcome, Session
from tests.support.fakes import FakeClock, FakeEvents

TOLERANCE = timedelta(milliseconds=2)
GRACE = 10
REFRESH_TTL = 3600


@dataclass
class StoreUnderTest:
    store: SessionStore
    now: datetime
    clock: FakeClock | None = None
    # Another store on the same backend and key space, whose tombstones linger `seconds`.
    with_linger: Callable[[int], SessionStore] | None = None
    redis: AnyRedis | None = None
    prefix: str = ""

    async def elapse(self, seconds: float) -> None:
        """Let time pass: the fake clock for memory, the real one for Redis."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "memory-host-shared", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str] | Path | None:
    """(Redis URL, key prefix) of the store under test; None for the memory store, and for the
    memory store a server without Redis runs (told of the CLI's endings), its revocations file."""
    if request.param == "memory":
        return None
    if request.param == "memory-host-shared":
        return tmp_path / "revocations.log"
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        return request.getfixturevalue("redis_url"), f"{prefix}:contract:{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("redis_cluster_url"), f"contract:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def subject(backend: tuple[str, str] | Path | None) -> AsyncIterator[StoreUnderTest]:
    now = datetime.now(UTC)
    if backend is None:
        clock = FakeClock(now)
        yield StoreUnderTest(
            MemorySessionStore(clock), now, clock, with_linger=lambda seconds: MemorySessionStore(clock, seconds)
        )
        return
    if isinstance(backend, Path):
        clock = FakeClock(now)

        def shared(store: MemorySessionStore) -> SessionStore:
            views = HostSessionViews(backend.parent / "sessions.d")  # and what it holds, shared as it changes
            return HostSharedSessionStore(store, HostRevocations(backend), FakeEvents(), clock, views)

        yield StoreUnderTest(
            shared(MemorySessionStore(clock)),
            now,
            clock,
            with_linger=lambda seconds: shared(MemorySessionStore(clock, seconds)),
        )
        return
    url, prefix = backend
    client = connect(url)
    try:
        yield StoreUnderTest(
            RedisSessionStore(client, prefix),
            now,
            with_linger=lambda seconds: RedisSessionStore(client, prefix, seconds),
            redis=client,
            prefix=prefix,
        )
    finally:
        await client.aclose()


def make_session(
    now: datetime,
    user_id: UserId | None = None,
    refresh_in: float = 600,
    absolute_in: float = 86400,
    device: str = "Firefox on Linux",
) -> Session:
    absolute = now + timedelta(seconds=absolute_in)
    return Session(
        id=SessionId(uuid.uuid4()),
        user_id=user_id or UserId(uuid.uuid4()),
        device_name=device,
        created_at=now,
        last_used_at=now,
        refresh_expires_at=min(now + timedelta(seconds=refresh_in), absolute),
        absolute_expires_at=absolute,
        email="someone@example.com",
        user_created_at=now - timedelta(days=3),
    )


def close(a: datetime | None, b: datetime | None) -> bool:
    assert a is not None
    assert b is not None
    return abs(a - b) <= TOLERANCE


def same_session(found: Session | None, expected: Session) -> None:
    assert found is not None
    assert (found.id, found.user_id, found.device_name, found.email) == (
        expected.id,
        expected.user_id,
        expected.device_name,
        expected.email,
    )
    for name in ("created_at", "last_used_at", "refresh_expires_at", "absolute_expires_at", "user_created_at"):
        assert close(getattr(found, name), getattr(expected, name)), name


def at(s: StoreUnderTest, seconds: float) -> datetime:
    return s.now + timedelta(seconds=seconds)


def generation_of(name: str) -> int:
    """The tests name MACs after their place in the chain: "h3" is generation 3; others 0."""
    found = re.fullmatch(r"[a-z](\d+)", name)
    return int(found.group(1)) if found else 0


async def rotation_of(
    s: StoreUnderTest,
    session: Session,
    presented: str,
    successor: str,
    when: datetime,
    grace: int = GRACE,
    ttl: int = REFRESH_TTL,
    generation: int | Literal["by name"] | None = "by name",
    limit: RateLimit | None = None,
) -> Rotation:
    """`generation` None: a pre-v1.1 token; by default, the one its name says."""
    return await s.store.rotate(
        session.user_id,
        session.id,
        presented_hash=presented,
        successor_hash=successor,
        now=when,
        grace_seconds=grace,
        refresh_ttl_seconds=ttl,
        generation=generation_of(presented) if generation == "by name" else generation,
        limit=limit,
    )


async def rotate(
    s: StoreUnderTest,
    session: Session,
    presented: str,
    successor: str,
    when: datetime,
    grace: int = GRACE,
    ttl: int = REFRESH_TTL,
    generation: int | Literal["by name"] = "by name",
) -> tuple[RotationOutcome, Session | None]:
    rotation = await rotation_of(s, session, presented, successor, when, grace, ttl, generation)
    return rotation.outcome, rotation.session


# --- create, read, list -------------------------------------------------------------------


async def test_created_session_can_be_read_back(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    same_session(await subject.store.get(session.user_id, session.id), session)


async def test_unknown_session_is_not_found(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    assert await subject.store.get(session.user_id, SessionId(uuid.uuid4())) is None
    # The session id alone is not enough: it belongs to one user.
    assert await subject.store.get(UserId(uuid.uuid4()), session.id) is None


async def test_list_for_user_shows_only_that_users_live_sessions(subject: StoreUnderTest) -> None:
    user = UserId(uuid.uuid4())
    short = make_session(subject.now, user, refresh_in=60, device="short")
    long = make_session(subject.now, user, refresh_in=600, device="long")
    revoked = make_session(subject.now, user, device="revoked")
    other = make_session(subject.now, device="someone else's")
    for session in (short, long, revoked, other):
        await subject.store.create(session, f"h-{session.id}")
    await subject.store.revoke(user, revoked.id)

    listed = await subject.store.list_for_user(user, subject.now)
    assert {s.id for s in listed} == {short.id, long.id}
    for found in listed:
        same_session(found, short if found.id == short.id else long)

    later = await subject.store.list_for_user(user, at(subject, 120))
    assert [s.id for s in later] == [long.id]

    assert await subject.store.list_for_user(UserId(uuid.uuid4()), subject.now) == []


async def test_session_whose_refresh_time_passed_is_gone(subject: StoreUnderTest) -> None:
    session = make_session(datetime.now(UTC), refresh_in=2.0)
    subject.now = session.created_at
    if subject.clock is not None:
        subject.clock.set(session.created_at)
    await subject.store.create(session, "h0")
    assert await subject.store.get(session.user_id, session.id) is not None

    await subject.elapse(2.5)

    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.list_for_user(session.user_id, at(subject, 2.5)) == []
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 2.5))
    assert outcome is RotationOutcome.INVALID


async def test_an_expired_session_cannot_be_revoked_or_counted(subject: StoreUnderTest) -> None:
    start = datetime.now(UTC)
    if subject.clock is not None:
        subject.clock.set(start)
    first = make_session(start, refresh_in=2.0)
    second = make_session(start, first.user_id, refresh_in=2.0)
    await subject.store.create(first, "h0")
    await subject.store.create(second, "g0")

    await subject.elapse(2.5)

    assert await subject.store.revoke(first.user_id, first.id) is False
    assert await subject.store.revoke_all(second.user_id) == 0


# --- rotation -----------------------------------------------------------------------------


async def test_rotating_the_current_token_rotates(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    when = at(subject, 5)

    outcome, rotated = await rotate(subject, session, "h0", "h1", when)

    assert outcome is RotationOutcome.ROTATED
    assert rotated is not None
    assert rotated.id == session.id
    assert rotated.user_id == session.user_id
    assert close(rotated.last_used_at, when)
    assert close(rotated.refresh_expires_at, when + timedelta(seconds=REFRESH_TTL))
    assert close(rotated.absolute_expires_at, session.absolute_expires_at)
    assert close(rotated.created_at, session.created_at)
    stored = await subject.store.get(session.user_id, session.id)
    assert stored is not None
    assert close(stored.refresh_expires_at, rotated.refresh_expires_at)
    assert close(stored.last_used_at, when)

    # The successor is now current and rotates in turn.
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 6))
    assert outcome is RotationOutcome.ROTATED


async def test_refresh_expiry_is_capped_at_the_absolute_lifetime(subject: StoreUnderTest) -> None:
    session = make_session(subject.now, refresh_in=50, absolute_in=100)
    await subject.store.create(session, "h0")

    outcome, rotated = await rotate(subject, session, "h0", "h1", at(subject, 10), ttl=1000)

    assert outcome is RotationOutcome.ROTATED
    assert rotated is not None
    assert close(rotated.refresh_expires_at, session.absolute_expires_at)


async def test_previous_token_within_grace_gets_the_same_successor(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, retried = await rotate(subject, session, "h0", "h1", at(subject, 1 + GRACE))

    assert outcome is RotationOutcome.RETRIED
    assert retried is not None
    assert retried.id == session.id
    assert close(retried.last_used_at, at(subject, 1 + GRACE))
    assert await subject.store.get(session.user_id, session.id) is not None
    # The retry did not rotate: the successor is still the current token.
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 12))
    assert outcome is RotationOutcome.ROTATED


async def test_previous_token_after_the_grace_window_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, found = await rotate(subject, session, "h0", "h1", at(subject, 1 + GRACE + 1))

    assert outcome is RotationOutcome.REUSED
    assert found is None
    assert await subject.store.get(session.user_id, session.id) is None
    # The whole family is dead: the successor does not work either.
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 13))
    assert outcome is RotationOutcome.INVALID


async def test_any_older_token_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))
    await rotate(subject, session, "h1", "h2", at(subject, 2))
    await rotate(subject, session, "h2", "h3", at(subject, 3))

    # Even inside the grace window of its own rotation, a token two steps back is theft.
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 3))

    assert outcome is RotationOutcome.REUSED
    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.list_for_user(session.user_id, at(subject, 3)) == []


async def test_with_no_grace_a_second_use_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1), grace=0)
    assert outcome is RotationOutcome.ROTATED

    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1), grace=0)

    assert outcome is RotationOutcome.REUSED
    assert await subject.store.get(session.user_id, session.id) is None


async def test_previous_token_with_another_successor_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, _ = await rotate(subject, session, "h0", "h-other", at(subject, 2))

    assert outcome is RotationOutcome.REUSED
    assert await subject.store.get(session.user_id, session.id) is None


async def test_unknown_token_is_invalid_and_the_session_survives(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, found = await rotate(subject, session, "h-unknown", "h-x", at(subject, 2))

    assert outcome is RotationOutcome.INVALID
    assert found is None
    assert await subject.store.get(session.user_id, session.id) is not None
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 3))
    assert outcome is RotationOutcome.ROTATED


async def test_unknown_session_rotation_is_invalid(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)

    outcome, found = await rotate(subject, session, "h0", "h1", at(subject, 1))

    assert outcome is RotationOutcome.INVALID
    assert found is None
    assert await subject.store.get(session.user_id, session.id) is None


async def test_rotation_past_the_absolute_lifetime_is_invalid(subject: StoreUnderTest) -> None:
    session = make_session(subject.now, refresh_in=100, absolute_in=100)
    await subject.store.create(session, "h0")

    outcome, found = await rotate(subject, session, "h0", "h1", at(subject, 100))

    assert outcome is RotationOutcome.INVALID
    assert found is None


async def test_rotation_after_the_refresh_expiry_is_invalid(subject: StoreUnderTest) -> None:
    session = make_session(subject.now, refresh_in=30, absolute_in=3600)
    await subject.store.create(session, "h0")

    outcome, found = await rotate(subject, session, "h0", "h1", at(subject, 31))

    assert outcome is RotationOutcome.INVALID
    assert found is None


# --- revocation ---------------------------------------------------------------------------


async def test_revoke_ends_a_session_once(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    other = make_session(subject.now, session.user_id)
    await subject.store.create(session, "h0")
    await subject.store.create(other, "g0")

    assert await subject.store.revoke(session.user_id, session.id) is True
    assert await subject.store.revoke(session.user_id, session.id) is False

    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.get(other.user_id, other.id) is not None
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1))
    assert outcome is RotationOutcome.INVALID


async def test_revoke_of_an_unknown_session_is_false(subject: StoreUnderTest) -> None:
    assert await subject.store.revoke(UserId(uuid.uuid4()), SessionId(uuid.uuid4())) is False


async def test_revoke_all_ends_every_session_of_the_user(subject: StoreUnderTest) -> None:
    user = UserId(uuid.uuid4())
    mine = [make_session(subject.now, user) for _ in range(3)]
    theirs = make_session(subject.now)
    for session in [*mine, theirs]:
        await subject.store.create(session, f"h-{session.id}")
    # A rotated session has an old-token set too: it must go as well.
    await rotate(subject, mine[0], f"h-{mine[0].id}", "h-next", at(subject, 1))

    assert await subject.store.revoke_all(user) == 3
    assert await subject.store.revoke_all(user) == 0

    for session in mine:
        assert await subject.store.get(user, session.id) is None
    assert await subject.store.list_for_user(user, subject.now) == []
    assert await subject.store.get(theirs.user_id, theirs.id) is not None


async def test_revoke_all_can_keep_one_session(subject: StoreUnderTest) -> None:
    user = UserId(uuid.uuid4())
    keep, *others = [make_session(subject.now, user) for _ in range(3)]
    for session in [keep, *others]:
        await subject.store.create(session, f"h-{session.id}")

    assert await subject.store.revoke_all(user, keep=keep.id) == 2
    assert await subject.store.revoke_all(user, keep=keep.id) == 0

    assert await subject.store.get(user, keep.id) is not None
    assert [s.id for s in await subject.store.list_for_user(user, subject.now)] == [keep.id]
    for session in others:
        assert await subject.store.get(user, session.id) is None
    outcome, _ = await rotate(subject, keep, f"h-{keep.id}", "h-next", at(subject, 1))
    assert outcome is RotationOutcome.ROTATED


async def test_ping_answers(subject: StoreUnderTest) -> None:
    await subject.store.ping()


# --- generations: reuse by number, O(1) storage ---------------------------------------------


async def test_an_older_generation_is_reuse_whatever_its_mac(subject: StoreUnderTest) -> None:
    """The store keeps no old MACs: a token older than the previous one is theft by its
    number (its authenticity was checked by its tag before the store is asked)."""
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    for n in range(3):
        await rotate(subject, session, f"h{n}", f"h{n + 1}", at(subject, n + 1))

    rotation = await rotation_of(subject, session, "never-stored", "x", at(subject, 4), generation=1)

    assert rotation.outcome is RotationOutcome.REUSED
    assert await subject.store.get(session.user_id, session.id) is None


async def test_an_unknown_mac_at_the_current_or_a_later_generation_is_invalid(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    for generation in (0, 1, 2, 10**6):  # previous, current, next, far ahead: MAC unknown
        outcome, _ = await rotate(subject, session, "h-unknown", "h-x", at(subject, 2), generation=generation)
        assert outcome is RotationOutcome.INVALID, generation
    assert await subject.store.get(session.user_id, session.id) is not None
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 3))
    assert outcome is RotationOutcome.ROTATED


async def test_the_current_mac_under_the_wrong_generation_does_not_rotate(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 2), generation=2)

    assert outcome is RotationOutcome.INVALID
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 3))
    assert outcome is RotationOutcome.ROTATED


async def session_memory(client: AnyRedis, keys: list[str]) -> int:
    total = 0
    for key in keys:
        used = await client.memory_usage(key, samples=0)
        assert used is not None, f"{key} is missing"
        total += int(used)
    return total


async def test_a_session_uses_the_same_redis_memory_after_1_and_after_10000_rotations(
    redis_url: str, redis_prefix: str
) -> None:
    client = connect(redis_url)
    store = RedisSessionStore(client, f"{redis_prefix}:memory:{uuid.uuid4().hex[:8]}")
    start = datetime.now(UTC)
    session = make_session(start, refresh_in=3600, absolute_in=86400)
    await store.create(session, refresh_hash(0))
    user = f"{store._prefix}:{{u:{session.user_id}}}"  # noqa: SLF001 - the store's key layout, white-box
    keys = [f"{user}:s:{session.id}", f"{user}:s:{session.id}:end", f"{user}:sessions"]
    limit = RateLimit(60, "minute")

    def rotate_args(generation: int) -> list[str | int]:
        now = (start + timedelta(seconds=generation)).timestamp()
        presented, successor = refresh_hash(generation - 1), refresh_hash(generation)
        return [str(session.id), presented, successor, f"{now:.6f}", GRACE, 3600, generation - 1, 60, 60, 86_400_000]

    async def rotate_to(generation: int) -> None:
        # One rotation a second of `now`, so the per-session limit (60/minute) lets each pass.
        rotation = await store.rotate(
            session.user_id,
            session.id,
            presented_hash=refresh_hash(generation - 1),
            successor_hash=refresh_hash(generation),
            now=start + timedelta(seconds=generation),
            grace_seconds=GRACE,
            refresh_ttl_seconds=3600,
            generation=generation - 1,
            limit=limit,
        )
        assert rotation.outcome is RotationOutcome.ROTATED, generation

    try:
        await rotate_to(1)
        after_one = await session_memory(client, keys)
        # The same calls as rotate_to, pipelined (each reply checked) so the test stays fast.
        for batch in range(2, 10_000, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for generation in range(batch, min(batch + 1000, 10_000)):
                    # redis-py runs a script on a pipeline too, though its annotation names clients only
                    await store._rotate.script(keys=keys, args=rotate_args(generation), client=pipe)  # type: ignore[arg-type]  # noqa: SLF001
                replies = await pipe.execute()
            assert all(_text(reply[0]) == "rotated" for reply in replies)
        await rotate_to(10_000)
        after_many = await session_memory(client, keys)
        assert after_many == after_one
        # Nothing else of the session's exists in its key space.
        found = [k async for k in client.scan_iter(match=f"{user}:*")]
        assert sorted(_text(k) for k in found) == sorted(keys)
    finally:
        await client.aclose()


def refresh_hash(generation: int) -> str:
    """A MAC-sized stand-in (64 hex digits) for the token of `generation`."""
    return hashlib.sha256(str(generation).encode()).hexdigest()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


# --- the per-session refresh limit ---------------------------------------------------------


async def test_successful_refreshes_are_limited_per_session(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    other = make_session(subject.now, session.user_id)
    await subject.store.create(session, "h0")
    await subject.store.create(other, "g0")
    limit = RateLimit(3, "minute")
    for n in range(2):
        rotation = await rotation_of(subject, session, f"h{n}", f"h{n + 1}", at(subject, n), limit=limit)
        assert rotation.outcome is RotationOutcome.ROTATED
    # A retry is a successful refresh too: it counts.
    rotation = await rotation_of(subject, session, "h1", "h2", at(subject, 2), limit=limit)
    assert rotation.outcome is RotationOutcome.RETRIED

    over = await rotation_of(subject, session, "h2", "h3", at(subject, 10), limit=limit)

    assert over.outcome is RotationOutcome.LIMITED
    assert over.session is None
    assert 49 <= over.retry_after <= 51  # the window opened at 0 and lasts 60 s
    # Nothing rotated: the same token works once the window has passed, and not before.
    assert (await rotation_of(subject, session, "h2", "h3", at(subject, 59), limit=limit)).outcome is (
        RotationOutcome.LIMITED
    )
    # Another session of the same user has its own window.
    assert (await rotation_of(subject, other, "g0", "g1", at(subject, 10), limit=limit)).outcome is (
        RotationOutcome.ROTATED
    )
    assert (await rotation_of(subject, session, "h2", "h3", at(subject, 60), limit=limit)).outcome is (
        RotationOutcome.ROTATED
    )


async def test_a_retry_over_the_refresh_limit_is_served_and_its_session_lives_on(subject: StoreUnderTest) -> None:
    """Two tabs race the session's last refresh of the window: one rotates, the other presents the
    same token within the grace. Refused with a Retry-After past the grace, its retry would then
    be theft and end the session; so a retry is never refused by the limit (it still counts)."""
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    limit = RateLimit(2, "minute")
    for n in range(2):  # the window's last refresh: h1 -> h2
        rotation = await rotation_of(subject, session, f"h{n}", f"h{n + 1}", at(subject, n), limit=limit)
        assert rotation.outcome is RotationOutcome.ROTATED

    retried = await rotation_of(subject, session, "h1", "h2", at(subject, 2), limit=limit)

    assert retried.outcome is RotationOutcome.RETRIED
    assert retried.session is not None
    assert retried.remaining == 0
    # A genuine refresh is still refused until the window ends, and the session is alive.
    assert (await rotation_of(subject, session, "h2", "h3", at(subject, 3), limit=limit)).outcome is (
        RotationOutcome.LIMITED
    )
    assert await subject.store.get(session.user_id, session.id) is not None
    assert (await rotation_of(subject, session, "h2", "h3", at(subject, 60), limit=limit)).outcome is (
        RotationOutcome.ROTATED
    )


async def test_the_refresh_limit_never_hides_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    limit = RateLimit(2, "minute")
    for n in range(2):
        await rotation_of(subject, session, f"h{n}", f"h{n + 1}", at(subject, n), limit=limit)
    assert (await rotation_of(subject, session, "h2", "h3", at(subject, 3), limit=limit)).outcome is (
        RotationOutcome.LIMITED
    )

    stolen = await rotation_of(subject, session, "h0", "h1", at(subject, 4), limit=limit)

    assert stolen.outcome is RotationOutcome.REUSED
    assert await subject.store.get(session.user_id, session.id) is None


# --- tombstones: why a session ended -------------------------------------------------------


async def test_a_live_or_unknown_session_has_no_end_reason(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    assert await subject.store.ended_reason(session.user_id, session.id) is None
    assert await subject.store.ended_reason(session.user_id, SessionId(uuid.uuid4())) is None
    assert await subject.store.ended_reason(UserId(uuid.uuid4()), session.id) is None


@pytest.mark.parametrize(
    "reason", [EndReason.LOGOUT, EndReason.PASSWORD_CHANGED, EndReason.ACCOUNT_DISABLED, EndReason.NOT_ME]
)
async def test_revoke_leaves_its_reason_and_the_first_ending_wins(subject: StoreUnderTest, reason: str) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    assert await subject.store.revoke(session.user_id, session.id, reason=reason)
    assert await subject.store.ended_reason(session.user_id, session.id) == reason
    assert not await subject.store.revoke(session.user_id, session.id, reason=EndReason.ADMIN_LOGOUT)
    assert await subject.store.revoke_all(session.user_id, reason=EndReason.ADMIN_LOGOUT) == 0

    assert await subject.store.ended_reason(session.user_id, session.id) == reason
    rotation = await rotation_of(subject, session, "h0", "h1", at(subject, 1))
    assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, reason)


async def test_revoke_all_leaves_its_reason_on_each_ended_session_only(subject: StoreUnderTest) -> None:
    user = UserId(uuid.uuid4())
    keep, *others = [make_session(subject.now, user) for _ in range(3)]
    for session in [keep, *others]:
        await subject.store.create(session, f"h-{session.id}")

    assert await subject.store.revoke_all(user, keep=keep.id, reason=EndReason.ENDED_FROM_OTHER_DEVICE) == 2

    assert await subject.store.ended_reason(user, keep.id) is None
    for session in others:
        assert await subject.store.ended_reason(user, session.id) == EndReason.ENDED_FROM_OTHER_DEVICE
    assert await subject.store.revoke_all(user, reason=EndReason.PASSWORD_RESET) == 1
    assert await subject.store.ended_reason(user, keep.id) == EndReason.PASSWORD_RESET
    assert await subject.store.ended_reason(user, others[0].id) == EndReason.ENDED_FROM_OTHER_DEVICE


async def test_reuse_leaves_reuse_detected(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))
    await rotate(subject, session, "h1", "h2", at(subject, 2))
    await rotate(subject, session, "h0", "h1", at(subject, 3))

    assert await subject.store.ended_reason(session.user_id, session.id) == EndReason.REUSE_DETECTED
    rotation = await rotation_of(subject, session, "h2", "h3", at(subject, 4))
    assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, EndReason.REUSE_DETECTED)


async def test_a_token_rotated_away_before_the_theft_is_still_reuse(subject: StoreUnderTest) -> None:
    """API.md: presenting a token that was already rotated away fails with `refresh_token_reused`;
    that stays true after an earlier reuse ended the session. The token that was current at the
    theft was never rotated away: it is a revoked session's token (`invalid_refresh_token`)."""
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))
    await rotate(subject, session, "h1", "h2", at(subject, 2))
    await rotate(subject, session, "h2", "h3", at(subject, 3))
    first = await rotation_of(subject, session, "h1", "h2", at(subject, 20))
    assert (first.outcome, first.reason) == (RotationOutcome.REUSED, None)  # this call found the theft

    for older in ("h0", "h1", "h2"):
        again = await rotation_of(subject, session, older, f"{older}-next", at(subject, 21))
        assert (again.outcome, again.reason) == (RotationOutcome.REUSED, EndReason.REUSE_DETECTED), older
        assert again.session is None
    current = await rotation_of(subject, session, "h3", "h4", at(subject, 22))
    assert (current.outcome, current.reason) == (RotationOutcome.INVALID, EndReason.REUSE_DETECTED)
    later = await rotation_of(subject, session, "h4", "h5", at(subject, 22), generation=4)
    assert (later.outcome, later.reason) == (RotationOutcome.INVALID, EndReason.REUSE_DETECTED)
    legacy = await rotation_of(subject, session, "h0", "h1", at(subject, 22), generation=None)
    assert (legacy.outcome, legacy.reason) == (RotationOutcome.INVALID, EndReason.REUSE_DETECTED)
    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.ended_reason(session.user_id, session.id) == EndReason.REUSE_DETECTED


async def test_without_grace_every_loser_of_a_race_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    outcomes = [await rotation_of(subject, session, "h0", "h1", at(subject, 1), grace=0) for _ in range(6)]

    assert [(r.outcome, r.reason) for r in outcomes] == [
        (RotationOutcome.ROTATED, None),
        (RotationOutcome.REUSED, None),
        *[(RotationOutcome.REUSED, EndReason.REUSE_DETECTED)] * 4,
    ]
    winner = await rotation_of(subject, session, "h1", "h2", at(subject, 2), grace=0)
    assert (winner.outcome, winner.reason) == (RotationOutcome.INVALID, EndReason.REUSE_DETECTED)


async def test_rotations_that_coincide_each_get_their_own_answer(subject: StoreUnderTest) -> None:
    """A worker sends rotations that coincide together (on Redis, one pipeline; on Cluster, across
    the masters): each is still its own atomic rotation, answered to its own caller."""
    sessions = [make_session(subject.now) for _ in range(40)]  # 40 users: slots across the Cluster
    for session in sessions:
        await subject.store.create(session, "h0")

    first = await asyncio.gather(*(rotation_of(subject, s, "h0", "h1", at(subject, 1)) for s in sessions))

    assert [r.outcome for r in first] == [RotationOutcome.ROTATED] * 40
    assert [(r.session.id, r.session.user_id) for r in first if r.session] == [(s.id, s.user_id) for s in sessions]
    # Six presentations of one token race (no grace) among the others' rotations, all at once.
    raced, others = sessions[0], sessions[1:]
    calls = [
        *(rotation_of(subject, raced, "h1", "h2", at(subject, 2), grace=0) for _ in range(6)),
        *(rotation_of(subject, s, "h1", "h2", at(subject, 2)) for s in others),
    ]
    second = await asyncio.gather(*calls)

    assert Counter((r.outcome.value, r.reason) for r in second[:6]) == Counter(
        {("rotated", None): 1, ("reused", None): 1, ("reused", EndReason.REUSE_DETECTED): 4}
    )
    assert [r.outcome for r in second[6:]] == [RotationOutcome.ROTATED] * 39
    assert await subject.store.get(raced.user_id, raced.id) is None  # the theft ended it
    assert all([await subject.store.get(s.user_id, s.id) for s in others])


async def test_only_theft_remembers_a_generation(subject: StoreUnderTest) -> None:
    """A session that ended any other way: every token of it is a revoked session's token."""
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))
    await rotate(subject, session, "h1", "h2", at(subject, 2))
    assert await subject.store.revoke(session.user_id, session.id, reason=EndReason.LOGOUT)

    for token in ("h0", "h1", "h2"):
        rotation = await rotation_of(subject, session, token, f"{token}-next", at(subject, 30))
        assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, EndReason.LOGOUT), token


async def test_a_session_that_ran_out_says_expired_or_max_age(subject: StoreUnderTest) -> None:
    start = datetime.now(UTC)
    if subject.clock is not None:
        subject.clock.set(start)
    idle = make_session(start, refresh_in=1.0, absolute_in=3600)
    capped = make_session(start, idle.user_id, refresh_in=1.0, absolute_in=1.0)
    rotated_to_cap = make_session(start, idle.user_id, refresh_in=0.5, absolute_in=1.5)
    for session in (idle, capped, rotated_to_cap):
        await subject.store.create(session, "h0")
    # A rotation whose refresh expiry meets the absolute lifetime: it will end by max age.
    await rotate(subject, rotated_to_cap, "h0", "h1", start + timedelta(seconds=0.1), ttl=3600)

    await subject.elapse(1.7)
    later = start + timedelta(seconds=1.7)

    assert await subject.store.ended_reason(idle.user_id, idle.id) == EndReason.EXPIRED
    assert await subject.store.ended_reason(capped.user_id, capped.id) == EndReason.MAX_AGE
    assert await subject.store.ended_reason(rotated_to_cap.user_id, rotated_to_cap.id) == EndReason.MAX_AGE
    for session, presented, why in ((idle, "h0", EndReason.EXPIRED), (rotated_to_cap, "h1", EndReason.MAX_AGE)):
        rotation = await rotation_of(subject, session, presented, "hx", later)
        assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, why)


async def test_refresh_past_the_end_reports_why_even_before_the_store_dropped_it(subject: StoreUnderTest) -> None:
    """`now` passed the session's end although the store's own clock (Redis) has not yet."""
    session = make_session(subject.now, refresh_in=30, absolute_in=60)
    await subject.store.create(session, "h0")

    rotation = await rotation_of(subject, session, "h0", "h1", at(subject, 31))
    assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, EndReason.EXPIRED)

    capped = make_session(subject.now, session.user_id, refresh_in=60, absolute_in=60)
    await subject.store.create(capped, "g0")
    rotation = await rotation_of(subject, capped, "g0", "g1", at(subject, 61))
    assert (rotation.outcome, rotation.reason) == (RotationOutcome.INVALID, EndReason.MAX_AGE)


async def test_tombstones_are_bounded_by_the_linger(subject: StoreUnderTest) -> None:
    assert subject.with_linger is not None
    store = subject.with_linger(1)
    start = datetime.now(UTC)
    if subject.clock is not None:
        subject.clock.set(start)
    ended = make_session(start, refresh_in=0.5)
    expiring = make_session(start, ended.user_id, refresh_in=0.5)
    await store.create(ended, "h0")
    await store.create(expiring, "g0")
    await store.revoke(ended.user_id, ended.id, reason=EndReason.LOGOUT)
    await subject.elapse(0.8)
    assert await store.ended_reason(ended.user_id, ended.id) == EndReason.LOGOUT
    assert await store.ended_reason(expiring.user_id, expiring.id) == EndReason.EXPIRED

    await subject.elapse(1.0)  # past the session's end plus the linger

    assert await store.ended_reason(ended.user_id, ended.id) is None
    assert await store.ended_reason(expiring.user_id, expiring.id) is None
    if subject.redis is not None:
        found = [k async for k in subject.redis.scan_iter(match=f"{subject.prefix}:{{u:{ended.user_id}}}:*")]
        assert found == []


# --- pre-v1.1 tokens (no generation): judged by their MAC alone ------------------------------


async def test_a_legacy_token_rotates_retries_and_is_never_theft_by_number(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "legacy")

    rotation = await rotation_of(subject, session, "legacy", "h1", at(subject, 1), generation=None)
    assert rotation.outcome is RotationOutcome.ROTATED
    rotation = await rotation_of(subject, session, "legacy", "h1", at(subject, 2), generation=None)
    assert rotation.outcome is RotationOutcome.RETRIED
    # Within grace with another successor (the old format's): refused, but no theft signal.
    rotation = await rotation_of(subject, session, "legacy", "h-old-format", at(subject, 3), generation=None)
    assert rotation.outcome is RotationOutcome.INVALID
    # An unknown legacy MAC, even once the chain is long: refused, the session survives.
    await rotate(subject, session, "h1", "h2", at(subject, 4))
    await rotate(subject, session, "h2", "h3", at(subject, 5))
    rotation = await rotation_of(subject, session, "legacy-older", "x", at(subject, 6), generation=None)
    assert rotation.outcome is RotationOutcome.INVALID
    assert await subject.store.get(session.user_id, session.id) is not None
    outcome, _ = await rotate(subject, session, "h3", "h4", at(subject, 7))
    assert outcome is RotationOutcome.ROTATED


async def test_a_legacy_previous_token_after_the_grace_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "legacy")
    await rotation_of(subject, session, "legacy", "h1", at(subject, 1), generation=None)

    rotation = await rotation_of(subject, session, "legacy", "h1", at(subject, 2 + GRACE), generation=None)

    assert rotation.outcome is RotationOutcome.REUSED
    assert await subject.store.ended_reason(session.user_id, session.id) == EndReason.REUSE_DETECTED


async def test_a_session_stored_before_v1_1_rotates_and_gets_a_tombstone(redis_url: str, redis_prefix: str) -> None:
    """A session as the pre-v1.1 store wrote it (no generation, no tombstone, an :old set)."""
    client = connect(redis_url)
    store = RedisSessionStore(client, f"{redis_prefix}:legacy:{uuid.uuid4().hex[:8]}")
    now = datetime.now(UTC)
    session = make_session(now)
    assert session.user_created_at is not None
    user = f"{store._prefix}:{{u:{session.user_id}}}"  # noqa: SLF001 - the store's key layout, white-box
    key = f"{user}:s:{session.id}"
    ends = session.refresh_expires_at.timestamp()
    old_fields: dict[FieldT, EncodableT] = {
        "uid": str(session.user_id),
        "dev": session.device_name,
        "ca": repr(now.timestamp()),
        "lu": repr(now.timestamp()),
        "rx": repr(ends),
        "ax": repr(session.absolute_expires_at.timestamp()),
        "em": session.email,
        "uca": repr(session.user_created_at.timestamp()),
        "cur": "legacy-current",
        "prev": "legacy-previous",
        "pat": repr(now.timestamp() - 3600),
    }
    try:
        await client.hset(key, mapping=old_fields)
        await client.pexpireat(key, int(ends * 1000) + 1)
        await client.sadd(f"{key}:old", "legacy-older")
        await client.pexpireat(f"{key}:old", int(ends * 1000) + 1)
        await client.zadd(f"{user}:sessions", {str(session.id): ends})
        same_session(await store.get(session.user_id, session.id), replace(session, last_used_at=now))

        rotation = await store.rotate(
            session.user_id,
            session.id,
            presented_hash="legacy-current",
            successor_hash="h1",
            now=at_time(now, 1),
            grace_seconds=GRACE,
            refresh_ttl_seconds=REFRESH_TTL,
            generation=None,
        )
        assert rotation.outcome is RotationOutcome.ROTATED
        rotation = await store.rotate(
            session.user_id,
            session.id,
            presented_hash="h1",
            successor_hash="h2",
            now=at_time(now, 2),
            grace_seconds=GRACE,
            refresh_ttl_seconds=REFRESH_TTL,
            generation=1,
        )
        assert rotation.outcome is RotationOutcome.ROTATED
        assert await store.revoke(session.user_id, session.id, reason=EndReason.LOGOUT)
        assert await store.ended_reason(session.user_id, session.id) == EndReason.LOGOUT
        assert 0 < await client.pttl(f"{key}:end") <= (2 + REFRESH_TTL + 86_400) * 1000  # rotated at +2 s
    finally:
        await client.aclose()


def at_time(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


async def test_cached_never_answers_what_get_would_not(subject: StoreUnderTest) -> None:
    """`cached` (the guard's no-I/O read) is the session or None; once the session is revoked or
    has expired it is None at once."""
    store, now = subject.store, subject.now
    session = make_session(now, refresh_in=2)
    await store.create(session, "mac")
    cached = store.cached(session.user_id, session.id)
    assert cached is None or cached == await store.get(session.user_id, session.id)
    if subject.redis is None:
        assert cached == session  # the in-process store is the store: it always knows

    await store.revoke(session.user_id, session.id)
    assert store.cached(session.user_id, session.id) is None

    expiring = make_session(now, refresh_in=1)
    await store.create(expiring, "mac")
    await subject.elapse(1.2)
    assert await store.get(expiring.user_id, expiring.id) is None
    assert store.cached(expiring.user_id, expiring.id) is None
