"""Account administration use cases and token introspection, on the fakes and the memory store."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicez.application.admin import (
    CLI_ACTOR,
    Actor,
    decode_cursor,
    encode_cursor,
)
from musicez.domain.email import Email
from musicez.domain.errors import AccountDisabled, InvalidResetToken, UserNotFound, ValidationFailed
from musicez.domain.ids import ApiKeyId, UserId
from musicez.domain.principal import ApiKeyPrincipal, UserPrincipal, holds_scope
from musicez.domain.session import EndReason
from tests.support.world import World


async def test_disabling_again_keeps_the_reason_unless_given_a_new_one(world: World) -> None:
    grant = await world.sign_up("listener@example.com")

    async def stored_reason() -> str | None:
        async with world.uow() as uow:
            stored = await uow.users.get(grant.user_id)
        assert stored is not None
        assert stored.disabled
        return stored.disabled_reason

    await world.disable_user.execute(grant.user_id, CLI_ACTOR, "fraud")
    await world.disable_user.execute(grant.user_id, CLI_ACTOR)
    assert await stored_reason() == "fraud"
    await world.disable_user.execute(grant.user_id, CLI_ACTOR, "chargeback")
    assert await stored_reason() == "chargeback"


async def test_disable_ends_sessions_with_the_reason_and_blocks_reset_and_change(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    await world.request_reset.execute(Email.parse("listener@example.com"))
    link = world.mailer.sent[-1].body.split("token=")[1].split()[0]

    user = await world.disable_user.execute("LISTENER@example.com", Actor("key-1", "mez_0123"), "  chargeback  ")
    assert user.id == grant.user_id
    assert await world.sessions.get(grant.user_id, grant.session.id) is None
    assert await world.sessions.ended_reason(grant.user_id, grant.session.id) in (None, EndReason.ACCOUNT_DISABLED)
    async with world.uow() as uow:
        stored = await uow.users.get(grant.user_id)
    assert stored is not None
    assert (stored.disabled, stored.disabled_reason, stored.disabled_at) == (True, "chargeback", world.clock.now())
    with pytest.raises(InvalidResetToken):
        await world.reset_password.execute(link, "Another-Strong-Pass-42")
    principal = UserPrincipal(grant.user_id, grant.session.id, world.clock.now())
    with pytest.raises(AccountDisabled):
        await world.change_password.execute(principal, "Correct-Horse-Battery-9", "Another-Strong-Pass-42")
    event = next(e for e in world.events.recorded if e[0] == "account_disabled")
    assert event[1] == {
        "user_id": str(grant.user_id),
        "by": "key-1",
        "key_prefix": "mez_0123",
        "reason": "chargeback",
        "session_ids": [str(grant.session.id)],  # the sessions it ended, one activity item each
    }

    await world.enable_user.execute(grant.user_id, CLI_ACTOR)
    async with world.uow() as uow:
        stored = await uow.users.get(grant.user_id)
    assert stored is not None
    assert (stored.disabled, stored.disabled_reason, stored.disabled_at) == (False, None, None)
    assert any(e[0] == "account_enabled" and e[1]["by"] == "cli" for e in world.events.recorded)


async def test_force_logout_and_unknown_users(world: World) -> None:
    one = await world.sign_up("listener@example.com")
    two = await world.sign_up("other@example.com")
    assert await world.force_logout.execute(str(one.user_id), CLI_ACTOR) == 1
    assert await world.sessions.get(one.user_id, one.session.id) is None
    assert await world.sessions.get(two.user_id, two.session.id) is not None
    assert await world.force_logout.execute(one.user_id, CLI_ACTOR) == 0
    logouts = [e[1] for e in world.events.recorded if e[0] == "admin_logout"]
    assert [(e["count"], e["session_ids"]) for e in logouts] == [(1, [str(one.session.id)]), (0, [])]
    for ref in ("nobody@example.com", "not an email", "", str(uuid.uuid4()), UserId(uuid.uuid4())):
        with pytest.raises(UserNotFound):
            await world.show_user.execute(ref)
        with pytest.raises(UserNotFound):
            await world.disable_user.execute(ref, CLI_ACTOR)


async def test_list_pages_by_cursor_and_filters(world: World) -> None:
    made = [await world.sign_up(f"fan{i}@example.com") for i in range(5)]
    await world.disable_user.execute(made[3].user_id, CLI_ACTOR)
    listing = world.list_users
    ids = sorted(m.user_id for m in made)  # id order (UUIDv7 in production: creation order)
    first = await listing.execute(limit=2)
    assert [u.id for u in first.items] == ids[:2]
    rest = await listing.execute(limit=10, cursor=first.next_cursor)
    assert [u.id for u in rest.items] == ids[2:]
    assert rest.next_cursor is None
    assert [u.id for u in (await listing.execute(disabled=True)).items] == [made[3].user_id]
    assert len((await listing.execute(disabled=False, email_contains="FAN")).items) == 4
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "x"}, {"email_contains": "a" * 255}):
        with pytest.raises(ValidationFailed):
            await listing.execute(**bad)


@given(st.uuids())
def test_cursor_round_trip(value: UserId) -> None:
    assert decode_cursor(encode_cursor(value)) == value


@given(st.text(max_size=40))
def test_any_cursor_text_is_a_cursor_or_a_validation_error(text: str) -> None:
    with contextlib.suppress(ValidationFailed):
        decode_cursor(text)


def test_scopes_deny_by_default() -> None:
    user = UserPrincipal(uuid.uuid4(), uuid.uuid4(), None)  # type: ignore[arg-type]
    api = ApiKeyPrincipal(ApiKeyId(uuid.uuid4()), "recs", None)
    admin = ApiKeyPrincipal(ApiKeyId(uuid.uuid4()), "console", None, scope="admin")
    odd = ApiKeyPrincipal(ApiKeyId(uuid.uuid4()), "odd", None, scope="root")
    assert [holds_scope(p, "api") for p in (user, api, admin, odd)] == [True, True, True, False]
    assert [holds_scope(p, "admin") for p in (user, api, admin, odd)] == [False, False, True, False]
    assert not holds_scope(admin, "superuser")


async def test_introspection_is_active_only_while_the_session_lives(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    introspect = world.introspect
    claims = await introspect.execute(grant.access.token)
    assert claims is not None
    assert (claims.user_id, claims.session_id, claims.issuer, claims.audience) == (
        grant.user_id,
        grant.session.id,
        "https://auth.test",
        "musicez-api",
    )
    assert claims.issued_at is not None
    assert claims.token_id
    await world.sessions.revoke(grant.user_id, grant.session.id)
    assert await introspect.execute(grant.access.token) is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_introspection_never_raises_for_any_text(world: World, text: str) -> None:
    assert asyncio.run(world.introspect.execute(text)) is None
