"""The in-process session store stays bounded: sessions and tombstones nobody touches again
are swept out as new sessions open (the contract suite covers its behaviour)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.domain.ids import SessionId, UserId
from musicez.domain.session import EndReason, Session
from tests.support.fakes import FakeClock


def a_session(now: datetime, user_id: UserId, lifetime: float) -> Session:
    return Session(
        id=SessionId(uuid.uuid4()),
        user_id=user_id,
        device_name="d",
        created_at=now,
        last_used_at=now,
        refresh_expires_at=now + timedelta(seconds=lifetime),
        absolute_expires_at=now + timedelta(seconds=lifetime),
    )


async def test_expired_sessions_and_old_tombstones_are_swept_out() -> None:
    clock = FakeClock(datetime.now(UTC))
    store = MemorySessionStore(clock, linger_seconds=60)
    user = UserId(uuid.uuid4())
    early = [a_session(clock.now(), user, 10) for _ in range(3000)]
    for n, session in enumerate(early):
        await store.create(session, f"h{n}")
        if n % 2:
            await store.revoke(user, session.id, reason=EndReason.LOGOUT)

    clock.advance(10 + 60)  # every early session ended, and its linger is over
    for n in range(3000):
        await store.create(a_session(clock.now(), user, 3600), f"g{n}")

    held = len(store._records) + len(store._ended)  # noqa: SLF001 - what the process keeps
    assert held <= 3000 + 1024, held
    assert await store.ended_reason(user, early[0].id) is None
