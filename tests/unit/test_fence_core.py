"""The fence's pure parts: the capped, versioned cache; trust by returned pings; the wiring."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest
from prometheus_client import CollectorRegistry

from musicez.adapters.fence.caches import FencedApiKeyLookup, FencedSessionStore
from musicez.adapters.fence.core import (
    Fence,
    key_cache,
    key_message,
    session_cache,
    session_message,
    spent_message,
    user_message,
)
from musicez.adapters.fence.none import NoSpentBudgetNotifier
from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.memory.host_revocations import HostSharedSessionStore
from musicez.application.ports import ApiKeyLookup, SessionStore, SpentBudgetNotifier
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.entrypoints.container import build_container
from musicez.entrypoints.settings import Settings


def _fence() -> Fence:
    return Fence("me", 0.05, session_cache(3), key_cache(3))


def test_the_cache_is_capped_least_recently_used_first() -> None:
    cache = session_cache(3)
    user = UserId(uuid4())
    keys = [(user, SessionId(uuid4())) for _ in range(5)]
    for key in keys[:3]:
        cache.finish(cache.begin(key, 0), "session", 0, accepting=True)
    assert cache.get(keys[0]) == "session"  # now the most recent
    for key in keys[3:]:
        cache.finish(cache.begin(key, 0), "session", 0, accepting=True)
    assert len(cache) == 3
    assert cache.get(keys[0]) == "session"
    assert cache.get(keys[1]) is None
    assert cache.get(keys[2]) is None


def test_a_read_that_raced_its_invalidation_or_a_reset_is_not_kept() -> None:
    fence = _fence()
    fence.on_subscribed()
    user, sid = UserId(uuid4()), SessionId(uuid4())
    ticket = fence.sessions.begin((user, sid), fence.epoch)
    fence.receive(session_message(user, sid))
    assert not fence.sessions.finish(ticket, "stale", fence.epoch, fence.subscribed)
    ticket = fence.sessions.begin((user, sid), fence.epoch)
    fence.receive(user_message(user))
    assert not fence.sessions.finish(ticket, "stale", fence.epoch, fence.subscribed)
    epoch = fence.epoch
    ticket = fence.sessions.begin((user, sid), epoch)
    fence.on_subscribed()  # a new connection: what was read before may have missed messages
    assert not fence.sessions.finish(ticket, "stale", fence.epoch, fence.subscribed)
    key_ticket = fence.keys.begin(ApiKeyId(UUID(int=5)), fence.epoch)
    fence.receive(key_message(ApiKeyId(UUID(int=5))))
    assert not fence.keys.finish(key_ticket, "row", fence.epoch, fence.subscribed)
    ticket = fence.sessions.begin((user, sid), fence.epoch)
    assert fence.sessions.finish(ticket, "fresh", fence.epoch, fence.subscribed)


def test_logout_others_spares_the_kept_session() -> None:
    fence = _fence()
    fence.on_subscribed()
    user, kept, other = UserId(uuid4()), SessionId(uuid4()), SessionId(uuid4())
    for sid in (kept, other):
        fence.sessions.finish(fence.sessions.begin((user, sid), fence.epoch), sid, fence.epoch, True)
    fence.receive(user_message(user, keep=kept))
    assert fence.sessions.get((user, kept)) == kept
    assert fence.sessions.get((user, other)) is None


def test_trust_follows_the_send_time_of_the_last_ping_read_back() -> None:
    fence = _fence()
    assert not fence.trusted(0.0)
    fence.on_subscribed()
    ping = fence.begin_ping(10.0, fence.epoch)
    assert ping is not None
    assert not fence.trusted(10.001)
    fence.receive(b"p|someone-else|%d" % ping)  # a ping published by an older version: not ours
    fence.receive(b"p|%s|%d" % (fence.process_id.encode(), ping))  # nor is one on the channel
    assert not fence.trusted(10.001)
    fence.ping_returned(ping)
    assert fence.trusted(10.049)
    assert not fence.trusted(10.05)
    fence.ping_returned(ping)  # a duplicate changes nothing
    assert fence.begin_ping(11.0, fence.epoch - 1) is None  # from before a reset
    late = fence.begin_ping(12.0, fence.epoch)
    fence.on_lost()
    assert late is not None
    fence.ping_returned(late)
    assert not fence.trusted(12.001)


def test_a_ping_read_back_forgets_the_older_ones_still_pending() -> None:
    """Replies come in order: an older ping not yet answered never will be, and cannot later
    move the trust back to its (earlier) send time."""
    fence = _fence()
    fence.on_subscribed()
    first = fence.begin_ping(10.0, fence.epoch)
    second = fence.begin_ping(10.01, fence.epoch)
    assert first is not None
    assert second is not None
    fence.ping_returned(second)
    fence.ping_returned(first)
    assert fence.confirmed_sent == 10.01


def test_an_unknown_message_forgets_everything() -> None:
    fence = _fence()
    fence.on_subscribed()
    key = (UserId(uuid4()), SessionId(uuid4()))
    fence.sessions.finish(fence.sessions.begin(key, fence.epoch), "s", fence.epoch, True)
    fence.receive(b"x|what")
    assert fence.sessions.get(key) is None


NAME = "api-key-failures:" + "0123456789abcdef" * 2


def test_a_spent_budget_from_another_process_is_heard_and_ends_nothing() -> None:
    fence = _fence()
    fence.on_subscribed()
    heard: list[tuple[str, int, int]] = []
    fence.budget_spent = lambda *mark: heard.append(mark)
    key = (UserId(uuid4()), SessionId(uuid4()))
    fence.sessions.finish(fence.sessions.begin(key, fence.epoch), "s", fence.epoch, True)
    fence.receive(spent_message("other", NAME, 10, 3599))
    fence.receive(spent_message("me", NAME, 10, 3599))  # its own, told back on the channel
    fence.receive(spent_message("other", "refresh_failures:" + "f" * 32, 60, 999_999))  # past a day: a day
    assert heard == [(NAME, 10, 3599), ("refresh_failures:" + "f" * 32, 60, 86_400)]
    assert fence.sessions.get(key) == "s"


@pytest.mark.parametrize(
    "message",
    [
        b"f|other|api-key-failures:203.0.113.7|10|60",  # never an address: a keyed name only
        b"f|other|" + NAME.encode() + b"|0|60",
        b"f|other|" + NAME.encode() + b"|10|0",
        b"f|other|" + NAME.encode() + b"|10",
        b"f|other|" + NAME.encode() + b"|10|60|more",
        b"f|other|" + NAME.encode() + b"|-1|60",
        b"f|other",
        b"f",
    ],
)
def test_a_spent_budget_not_understood_is_dropped(message: bytes) -> None:
    fence = _fence()
    fence.on_subscribed()
    heard: list[tuple[str, int, int]] = []
    fence.budget_spent = lambda *mark: heard.append(mark)
    key = (UserId(uuid4()), SessionId(uuid4()))
    fence.sessions.finish(fence.sessions.begin(key, fence.epoch), "s", fence.epoch, True)
    fence.receive(message)
    assert heard == []
    assert fence.sessions.get(key) == "s"  # not an invalidation: nothing to forget


@pytest.mark.parametrize(
    ("redis_url", "lease_ms", "told"),
    [
        (None, 50, NoSpentBudgetNotifier),
        ("redis://127.0.0.1:1/0", 50, RedisFence),
        ("redis://127.0.0.1:1/0", 0, RedisFence),
    ],
)
async def test_spent_budgets_are_told_on_the_channel_with_redis_even_with_the_fence_off(
    redis_url: str | None, lease_ms: int, told: type, tmp_path: Path
) -> None:
    settings = Settings(data_dir=str(tmp_path), redis_url=redis_url, fence_lease_ms=lease_ms, secret_key="k" * 40)
    container = build_container(settings, CollectorRegistry())
    try:
        assert isinstance(await container.get(SpentBudgetNotifier), told)
    finally:
        await container.close()


@pytest.mark.parametrize(("redis_url", "fenced"), [(None, False), ("redis://127.0.0.1:1/0", True)])
async def test_caches_only_with_redis(redis_url: str | None, fenced: bool, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), redis_url=redis_url, secret_key="k" * 40)
    container = build_container(settings, CollectorRegistry())
    try:
        sessions = await container.get(SessionStore)
        keys = await container.get(ApiKeyLookup)
        assert isinstance(sessions, FencedSessionStore) is fenced
        assert isinstance(keys, FencedApiKeyLookup) is fenced
        if not fenced:  # the process's own memory, told of the CLI's endings on this host
            assert isinstance(sessions, HostSharedSessionStore)
    finally:
        await container.close()
    off = Settings(data_dir=str(tmp_path), redis_url="redis://127.0.0.1:1/0", fence_lease_ms=0, secret_key="k" * 40)
    container = build_container(off, CollectorRegistry())
    try:
        assert not isinstance(await container.get(SessionStore), FencedSessionStore)
    finally:
        await container.close()
