"""The SessionStore contract, for the memory store and the Redis store (one node and Cluster).

Times are real wall-clock times: Redis expires keys by its own clock. `now` is passed
explicitly wherever the port takes it; the memory store gets a clock set to the same time.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.redis.client import connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.application.ports import SessionStore
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import Rotation, RotationOutcome, Session
from tests.support.fakes import FakeClock

TOLERANCE = timedelta(milliseconds=2)
GRACE = 10
REFRESH_TTL = 3600


@dataclass
class StoreUnderTest:
    store: SessionStore
    now: datetime
    clock: FakeClock | None = None

    async def elapse(self, seconds: float) -> None:
        """Let time pass: the fake clock for memory, the real one for Redis."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """(Redis URL, key prefix) of the store under test; None for the memory store."""
    if request.param == "memory":
        return None
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        return request.getfixturevalue("redis_url"), f"{prefix}:contract:{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("redis_cluster_url"), f"contract:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def subject(backend: tuple[str, str] | None) -> AsyncIterator[StoreUnderTest]:
    now = datetime.now(UTC)
    if backend is None:
        clock = FakeClock(now)
        yield StoreUnderTest(MemorySessionStore(clock), now, clock)
        return
    url, prefix = backend
    client = connect(url)
    try:
        yield StoreUnderTest(RedisSessionStore(client, prefix), now)
    finally:
        await client.aclose()


def make_session(
    now: datetime,
    user_id: UUID | None = None,
    refresh_in: float = 600,
    absolute_in: float = 86400,
    device: str = "Firefox on Linux",
) -> Session:
    absolute = now + timedelta(seconds=absolute_in)
    return Session(
        id=uuid.uuid4(),
        user_id=user_id or uuid.uuid4(),
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
    generation: int | None = None,
    limit: RateLimit | None = None,
) -> Rotation:
    return await s.store.rotate(
        session.user_id,
        session.id,
        presented_hash=presented,
        successor_hash=successor,
        now=when,
        grace_seconds=grace,
        refresh_ttl_seconds=ttl,
        generation=generation_of(presented) if generation is None else generation,
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
    generation: int | None = None,
) -> tuple[RotationOutcome, Session | None]:
    rotation = await rotation_of(s, session, presented, successor, when, grace, ttl, generation)
    return rotation.outcome, rotation.session


# --- create, read, list -------------------------------------------------------------------


async def test_created_session_can_be_read_back(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    same_session(await subject.store.get(session.user_id, session.id), session)
    assert await subject.store.is_active(session.user_id, session.id)


async def test_unknown_session_is_not_found(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")

    assert await subject.store.get(session.user_id, uuid.uuid4()) is None
    assert not await subject.store.is_active(session.user_id, uuid.uuid4())
    # The session id alone is not enough: it belongs to one user.
    assert not await subject.store.is_active(uuid.uuid4(), session.id)


async def test_list_for_user_shows_only_that_users_live_sessions(subject: StoreUnderTest) -> None:
    user = uuid.uuid4()
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

    assert await subject.store.list_for_user(uuid.uuid4(), subject.now) == []


async def test_session_whose_refresh_time_passed_is_gone(subject: StoreUnderTest) -> None:
    session = make_session(datetime.now(UTC), refresh_in=2.0)
    subject.now = session.created_at
    if subject.clock is not None:
        subject.clock.set(session.created_at)
    await subject.store.create(session, "h0")
    assert await subject.store.is_active(session.user_id, session.id)

    await subject.elapse(2.5)

    assert not await subject.store.is_active(session.user_id, session.id)
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
    assert await subject.store.is_active(session.user_id, session.id)
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
    assert not await subject.store.is_active(session.user_id, session.id)
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
    assert not await subject.store.is_active(session.user_id, session.id)
    assert await subject.store.get(session.user_id, session.id) is None
    assert await subject.store.list_for_user(session.user_id, at(subject, 3)) == []


async def test_with_no_grace_a_second_use_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1), grace=0)
    assert outcome is RotationOutcome.ROTATED

    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1), grace=0)

    assert outcome is RotationOutcome.REUSED
    assert not await subject.store.is_active(session.user_id, session.id)


async def test_previous_token_with_another_successor_is_reuse(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, _ = await rotate(subject, session, "h0", "h-other", at(subject, 2))

    assert outcome is RotationOutcome.REUSED
    assert not await subject.store.is_active(session.user_id, session.id)


async def test_unknown_token_is_invalid_and_the_session_survives(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)
    await subject.store.create(session, "h0")
    await rotate(subject, session, "h0", "h1", at(subject, 1))

    outcome, found = await rotate(subject, session, "h-unknown", "h-x", at(subject, 2))

    assert outcome is RotationOutcome.INVALID
    assert found is None
    assert await subject.store.is_active(session.user_id, session.id)
    outcome, _ = await rotate(subject, session, "h1", "h2", at(subject, 3))
    assert outcome is RotationOutcome.ROTATED


async def test_unknown_session_rotation_is_invalid(subject: StoreUnderTest) -> None:
    session = make_session(subject.now)

    outcome, found = await rotate(subject, session, "h0", "h1", at(subject, 1))

    assert outcome is RotationOutcome.INVALID
    assert found is None
    assert not await subject.store.is_active(session.user_id, session.id)


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

    assert not await subject.store.is_active(session.user_id, session.id)
    assert await subject.store.is_active(other.user_id, other.id)
    outcome, _ = await rotate(subject, session, "h0", "h1", at(subject, 1))
    assert outcome is RotationOutcome.INVALID


async def test_revoke_of_an_unknown_session_is_false(subject: StoreUnderTest) -> None:
    assert await subject.store.revoke(uuid.uuid4(), uuid.uuid4()) is False


async def test_revoke_all_ends_every_session_of_the_user(subject: StoreUnderTest) -> None:
    user = uuid.uuid4()
    mine = [make_session(subject.now, user) for _ in range(3)]
    theirs = make_session(subject.now)
    for session in [*mine, theirs]:
        await subject.store.create(session, f"h-{session.id}")
    # A rotated session has an old-token set too: it must go as well.
    await rotate(subject, mine[0], f"h-{mine[0].id}", "h-next", at(subject, 1))

    assert await subject.store.revoke_all(user) == 3
    assert await subject.store.revoke_all(user) == 0

    for session in mine:
        assert not await subject.store.is_active(user, session.id)
    assert await subject.store.list_for_user(user, subject.now) == []
    assert await subject.store.is_active(theirs.user_id, theirs.id)


async def test_revoke_all_can_keep_one_session(subject: StoreUnderTest) -> None:
    user = uuid.uuid4()
    keep, *others = [make_session(subject.now, user) for _ in range(3)]
    for session in [keep, *others]:
        await subject.store.create(session, f"h-{session.id}")

    assert await subject.store.revoke_all(user, keep=keep.id) == 2
    assert await subject.store.revoke_all(user, keep=keep.id) == 0

    assert await subject.store.is_active(user, keep.id)
    assert [s.id for s in await subject.store.list_for_user(user, subject.now)] == [keep.id]
    for session in others:
        assert not await subject.store.is_active(user, session.id)
    outcome, _ = await rotate(subject, keep, f"h-{keep.id}", "h-next", at(subject, 1))
    assert outcome is RotationOutcome.ROTATED


async def test_ping_answers(subject: StoreUnderTest) -> None:
    await subject.store.ping()
