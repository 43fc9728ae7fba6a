"""Forgotten passwords, resets and changes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from musicez.application.accounts import Credentials
from musicez.domain.email import Email
from musicez.domain.errors import InvalidCredentials, InvalidCurrentPassword, InvalidResetToken, WeakPassword
from musicez.domain.principal import UserPrincipal
from tests.support.accounts import OTHER_STRONG_PASSWORD, STRONG_PASSWORD
from tests.support.world import World


def token_in(body: str) -> str:
    link = re.search(r"https://app\.example/reset\?\S+", body)
    assert link is not None, body
    return parse_qs(urlsplit(link.group(0)).query)["token"][0]


async def reset_token(world: World, email: str = "listener@example.com") -> str:
    await world.request_reset.execute(Email.parse(email))
    return token_in(world.mailer.sent[-1].body)


async def can_log_in(world: World, password: str, email: str = "listener@example.com") -> bool:
    try:
        await world.login.execute(Credentials(email, password, client="10.1.1.1"))
    except InvalidCredentials:
        return False
    return True


def principal_of(grant) -> UserPrincipal:  # type: ignore[no-untyped-def]
    return UserPrincipal(grant.user_id, grant.session.id, grant.access.expires_at)


# --- request a reset ----------------------------------------------------------------------


async def test_a_reset_mail_goes_only_to_existing_accounts(world: World) -> None:
    await world.sign_up("listener@example.com")

    await world.request_reset.execute(Email.parse("nobody@example.com"))
    assert world.mailer.sent == []

    await world.request_reset.execute(Email.parse("LISTENER@example.com"))
    [mail] = world.mailer.sent
    assert mail.to == "listener@example.com"
    token = token_in(mail.body)
    assert len(token) == 43
    # Only a MAC of the token is stored.
    stored = world.database.committed.reset_tokens
    assert len(stored) == 1
    assert token not in next(iter(stored))
    assert all(token not in str(fields) for _, fields in world.events.recorded)


async def test_reset_mails_to_one_address_are_limited(world: World) -> None:
    await world.sign_up("listener@example.com")
    for _ in range(world.throttle_policy.forgot_per_email.amount + 2):
        await world.request_reset.execute(Email.parse("listener@example.com"))
    assert len(world.mailer.sent) == world.throttle_policy.forgot_per_email.amount


# --- reset --------------------------------------------------------------------------------


async def test_reset_sets_the_password_once_and_ends_every_session(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    token = await reset_token(world)

    await world.reset_password.execute(token, OTHER_STRONG_PASSWORD)

    assert await world.sessions.get(grant.user_id, grant.session.id) is None
    assert await can_log_in(world, OTHER_STRONG_PASSWORD)
    assert not await can_log_in(world, STRONG_PASSWORD)
    with pytest.raises(InvalidResetToken):
        await world.reset_password.execute(token, "Yet-Another-Strong-1")


async def test_a_new_reset_link_keeps_earlier_ones_and_a_sixth_voids_the_oldest(world: World) -> None:
    """v1.1: a third party asking for links never voids the owner's (at most 5 live)."""
    await world.sign_up("listener@example.com")
    tokens = [await reset_token(world) for _ in range(6)]

    with pytest.raises(InvalidResetToken):  # the sixth voided the oldest
        await world.reset_password.execute(tokens[0], OTHER_STRONG_PASSWORD)
    await world.reset_password.execute(tokens[1], OTHER_STRONG_PASSWORD)  # an earlier one still works
    for later in tokens[2:]:  # a completed reset voids them all
        with pytest.raises(InvalidResetToken):
            await world.reset_password.execute(later, "Yet-Another-Strong-1")


async def test_an_expired_reset_token_is_refused(world: World) -> None:
    await world.sign_up("listener@example.com")
    token = await reset_token(world)
    world.clock.advance(world.reset_policy.token_ttl)

    with pytest.raises(InvalidResetToken):
        await world.reset_password.execute(token, OTHER_STRONG_PASSWORD)


@pytest.mark.parametrize("token", ["", "short", "A" * 43, "A" * 42 + "=", "é" * 43, "A" * 5000])
async def test_malformed_or_unknown_reset_tokens_are_refused(world: World, token: str) -> None:
    await world.sign_up("listener@example.com")
    await reset_token(world)
    with pytest.raises(InvalidResetToken):
        await world.reset_password.execute(token, OTHER_STRONG_PASSWORD)


async def test_a_weak_new_password_leaves_the_token_usable(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    token = await reset_token(world)

    with pytest.raises(WeakPassword) as caught:
        await world.reset_password.execute(token, "short")
    assert {e.field for e in caught.value.errors} == {"new_password"}
    assert await world.sessions.get(grant.user_id, grant.session.id) is not None

    await world.reset_password.execute(token, OTHER_STRONG_PASSWORD)


# --- change -------------------------------------------------------------------------------


async def test_change_password_keeps_the_current_session_and_ends_the_others(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    other = await world.login.execute(Credentials("listener@example.com", STRONG_PASSWORD, client="10.0.0.9"))

    await world.change_password.execute(principal_of(grant), STRONG_PASSWORD, OTHER_STRONG_PASSWORD)

    assert await world.sessions.get(grant.user_id, grant.session.id) is not None
    assert await world.sessions.get(other.user_id, other.session.id) is None
    assert await can_log_in(world, OTHER_STRONG_PASSWORD)
    assert not await can_log_in(world, STRONG_PASSWORD)


async def test_change_password_needs_the_current_password(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    other = await world.login.execute(Credentials("listener@example.com", STRONG_PASSWORD, client="10.0.0.9"))

    for wrong in ("Wrong-Password-123", STRONG_PASSWORD + "é" * 40):
        with pytest.raises(InvalidCurrentPassword):
            await world.change_password.execute(principal_of(grant), wrong, OTHER_STRONG_PASSWORD)

    assert await world.sessions.get(other.user_id, other.session.id) is not None
    assert await can_log_in(world, STRONG_PASSWORD)


async def test_change_password_applies_the_policy_to_the_new_password(world: World) -> None:
    grant = await world.sign_up("listener@example.com")

    with pytest.raises(WeakPassword) as caught:
        await world.change_password.execute(principal_of(grant), STRONG_PASSWORD, "listener-is-me")
    assert {e.field for e in caught.value.errors} == {"new_password"}
    assert await can_log_in(world, STRONG_PASSWORD)


async def test_changing_the_password_kills_a_pending_reset_link(world: World) -> None:
    grant = await world.sign_up("listener@example.com")
    pending = await reset_token(world)

    await world.change_password.execute(principal_of(grant), STRONG_PASSWORD, OTHER_STRONG_PASSWORD)

    with pytest.raises(InvalidResetToken):
        await world.reset_password.execute(pending, "Yet-Another-Strong-Pass-5")
    assert await can_log_in(world, OTHER_STRONG_PASSWORD)
