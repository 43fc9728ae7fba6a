"""RotateRefresh and the logout family, on the memory session store."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from musicez.application.accounts import Credentials
from musicez.application.macs import refresh_hash
from musicez.application.ports import RateDecision
from musicez.domain.errors import InvalidRefreshToken, RateLimited, RefreshTokenReused, SessionNotFound
from musicez.domain.ids import SessionId
from musicez.domain.principal import UserPrincipal
from musicez.domain.refresh_token import RefreshToken
from tests.support.accounts import STRONG_PASSWORD
from tests.support.world import MakeWorld, World


def principal_of(grant) -> UserPrincipal:  # type: ignore[no-untyped-def]
    return UserPrincipal(grant.user_id, grant.session.id, grant.access.expires_at)


async def second_device(world: World, email: str = "listener@example.com"):  # type: ignore[no-untyped-def]
    return await world.login.execute(Credentials(email, STRONG_PASSWORD, client="10.0.0.2", device_name="Tablet"))


# --- refresh ------------------------------------------------------------------------------


async def test_refresh_rotates_to_a_new_token_of_the_same_session(world: World) -> None:
    grant = await world.sign_up()
    world.clock.advance(5)  # within the codec's leeway: its `iat` check uses the real clock

    rotated = await world.rotate.execute(grant.refresh_token)

    assert rotated.refresh_token != grant.refresh_token
    assert rotated.session.id == grant.session.id
    assert rotated.session.last_used_at == world.clock.now()
    assert rotated.refresh_expires_at > grant.refresh_expires_at
    assert world.codec.verify(rotated.access.token).session_id == grant.session.id
    # The new token works in turn.
    assert (await world.rotate.execute(rotated.refresh_token)).session.id == grant.session.id


async def test_a_successful_refresh_never_touches_the_failure_budget(world: World) -> None:
    """The honest path makes no extra limiter call: the per-address failure budget is counted
    on failures only, and the response describes the session's limit alone."""
    grant = await world.sign_up()
    world.limiter.counts.clear()
    world.observer.decisions.clear()

    await world.rotate.execute(grant.refresh_token, client="203.0.113.5")

    assert world.limiter.counts == {}
    assert [d.limit for d in world.observer.decisions] == [world.refresh_policy.per_session.amount]


async def test_refresh_failures_report_the_address_budget_and_its_refusal(world: World) -> None:
    """Each failure's decision reaches the observer (`RateLimit-*` of the 401); the refusal
    before any lookup reports the spent budget: Remaining 0, Reset its Retry-After."""
    budget = world.refresh_policy.failures_per_client
    world.observer.decisions.clear()
    for _ in range(budget.amount):
        with pytest.raises(InvalidRefreshToken):
            await world.rotate.execute("bogus", client="198.51.100.9")
    assert [d.remaining for d in world.observer.decisions] == list(range(budget.amount - 1, -1, -1))
    assert {d.limit for d in world.observer.decisions} == {budget.amount}
    world.observer.decisions.clear()
    world.clock.advance(10)

    with pytest.raises(RateLimited) as refused:
        await world.rotate.execute("bogus", client="198.51.100.9")

    assert refused.value.retry_after == budget.seconds - 10
    assert world.observer.decisions == [RateDecision(False, budget.amount, 0, refused.value.retry_after)]


async def test_a_retry_within_the_grace_window_gets_the_same_successor(world: World) -> None:
    grant = await world.sign_up()
    first = await world.rotate.execute(grant.refresh_token)
    world.clock.advance(world.session_policy.refresh_reuse_grace)

    retry = await world.rotate.execute(grant.refresh_token)

    assert retry.refresh_token == first.refresh_token
    assert await world.sessions.get(grant.user_id, grant.session.id) is not None
    assert "refresh_retried" in world.events.names
    await world.rotate.execute(retry.refresh_token)


async def test_the_previous_token_after_the_grace_window_revokes_the_session(world: World) -> None:
    grant = await world.sign_up()
    first = await world.rotate.execute(grant.refresh_token)
    world.clock.advance(world.session_policy.refresh_reuse_grace + 1)

    with pytest.raises(RefreshTokenReused):
        await world.rotate.execute(grant.refresh_token)

    assert await world.sessions.get(grant.user_id, grant.session.id) is None
    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(first.refresh_token)
    assert "refresh_reused" in world.events.names


async def test_an_older_token_revokes_the_session_even_within_grace(world: World) -> None:
    grant = await world.sign_up()
    first = await world.rotate.execute(grant.refresh_token)
    await world.rotate.execute(first.refresh_token)

    with pytest.raises(RefreshTokenReused):
        await world.rotate.execute(grant.refresh_token)
    assert await world.sessions.get(grant.user_id, grant.session.id) is None


async def test_with_no_grace_window_a_second_use_is_reuse(make_world: MakeWorld) -> None:
    world = await make_world(refresh_reuse_grace=0)
    grant = await world.sign_up()
    await world.rotate.execute(grant.refresh_token)

    with pytest.raises(RefreshTokenReused):
        await world.rotate.execute(grant.refresh_token)


async def test_reuse_ends_only_that_session(world: World) -> None:
    grant = await world.sign_up()
    other = await second_device(world)
    await world.rotate.execute(grant.refresh_token)
    await world.rotate.execute((await world.rotate.execute(grant.refresh_token)).refresh_token)
    world.clock.advance(30)

    with pytest.raises(RefreshTokenReused):
        await world.rotate.execute(grant.refresh_token)
    assert await world.sessions.get(other.user_id, other.session.id) is not None


@pytest.mark.parametrize("token", ["", "garbage", "A" * 86, "A" * 10_000])
async def test_malformed_or_unknown_tokens_are_invalid(world: World, token: str) -> None:
    await world.sign_up()
    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(token)


async def test_a_forged_token_for_a_real_session_is_invalid_and_the_session_survives(world: World) -> None:
    grant = await world.sign_up()
    forged = RefreshToken(grant.user_id, grant.session.id, 0, bytes(32), bytes(16)).encode()

    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(forged)
    assert await world.sessions.get(grant.user_id, grant.session.id) is not None
    await world.rotate.execute(grant.refresh_token)


async def test_refresh_after_the_refresh_lifetime_is_invalid(world: World) -> None:
    grant = await world.sign_up()
    world.clock.advance(world.session_policy.refresh_token_ttl + 1)

    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(grant.refresh_token)


async def test_refresh_never_extends_the_absolute_lifetime(make_world: MakeWorld) -> None:
    world = await make_world(refresh_token_ttl=100, session_max_age=250)
    grant = await world.sign_up()
    token = grant.refresh_token
    for _ in range(2):
        world.clock.advance(90)
        token = (await world.rotate.execute(token)).refresh_token
    world.clock.advance(60)  # 240 s old: the refresh expiry is capped at 250 s
    last = await world.rotate.execute(token)
    assert last.refresh_expires_at == grant.session.absolute_expires_at

    world.clock.advance(11)
    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(last.refresh_token)


# --- logout family ------------------------------------------------------------------------


async def test_logout_ends_the_current_session_only(world: World) -> None:
    grant = await world.sign_up()
    other = await second_device(world)

    await world.logout.execute(principal_of(grant))

    assert await world.sessions.get(grant.user_id, grant.session.id) is None
    assert await world.sessions.get(other.user_id, other.session.id) is not None
    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(grant.refresh_token)
    await world.logout.execute(principal_of(grant))  # twice is harmless


async def test_revoke_all_ends_every_session(world: World) -> None:
    grant = await world.sign_up()
    other = await second_device(world)

    assert await world.revoke_all.execute(grant.user_id) == 2

    for g in (grant, other):
        assert await world.sessions.get(g.user_id, g.session.id) is None


async def test_revoke_others_keeps_the_current_session(world: World) -> None:
    grant = await world.sign_up()
    others = [await second_device(world) for _ in range(2)]

    assert await world.revoke_others.execute(principal_of(grant)) == 2

    assert await world.sessions.get(grant.user_id, grant.session.id) is not None
    for g in others:
        assert await world.sessions.get(g.user_id, g.session.id) is None
    listed = await world.list_sessions.execute(principal_of(grant))
    assert [s.id for s in listed] == [grant.session.id]


async def test_revoke_session_by_id(world: World) -> None:
    grant = await world.sign_up()
    other = await second_device(world)

    await world.revoke_session.execute(principal_of(grant), other.session.id)

    assert await world.sessions.get(other.user_id, other.session.id) is None
    assert await world.sessions.get(grant.user_id, grant.session.id) is not None
    with pytest.raises(SessionNotFound):
        await world.revoke_session.execute(principal_of(grant), other.session.id)


async def test_revoke_session_cannot_touch_another_users_session(world: World) -> None:
    mine = await world.sign_up()
    theirs = await world.sign_up("someone-else@example.com")

    with pytest.raises(SessionNotFound):
        await world.revoke_session.execute(principal_of(mine), theirs.session.id)
    with pytest.raises(SessionNotFound):
        await world.revoke_session.execute(principal_of(mine), SessionId(uuid.uuid4()))
    assert await world.sessions.get(theirs.user_id, theirs.session.id) is not None


async def test_sessions_are_listed_newest_first(world: World) -> None:
    grant = await world.sign_up()
    world.clock.advance(5)
    newer = await second_device(world)

    listed = await world.list_sessions.execute(principal_of(grant))

    assert [s.id for s in listed] == [newer.session.id, grant.session.id]


async def test_a_pre_v1_1_refresh_token_rotates_into_the_new_format(world: World) -> None:
    """Sessions opened before the upgrade keep working: their 86-character token (no
    generation, no tag) is judged by its MAC alone and rotates into a v1.1 token."""
    grant = await world.sign_up()
    legacy = RefreshToken(grant.user_id, SessionId(uuid.uuid4()), 0, bytes(range(32)), legacy=True).encode()
    assert len(legacy) == 86
    session = replace(grant.session, id=RefreshToken.parse(legacy).session_id)
    await world.sessions.create(session, refresh_hash(world.macs, legacy))

    # A made-up legacy token for that live session is refused, and proves nothing.
    forged = RefreshToken(grant.user_id, session.id, 0, bytes(32), legacy=True).encode()
    with pytest.raises(InvalidRefreshToken):
        await world.rotate.execute(forged)

    rotated = await world.rotate.execute(legacy)
    assert len(rotated.refresh_token) == 118
    assert RefreshToken.parse(rotated.refresh_token).generation == 1
    assert rotated.session.id == session.id
    retried = await world.rotate.execute(legacy)  # within the grace window: the same successor
    assert retried.refresh_token == rotated.refresh_token
    assert (await world.rotate.execute(rotated.refresh_token)).session.id == session.id
