"""RegisterUser and LoginUser on fakes."""

from __future__ import annotations

import pytest

from musicez.application.accounts import Credentials
from musicez.domain.email import Email
from musicez.domain.errors import (
    AccountDisabled,
    EmailTaken,
    HashingBusy,
    InvalidCredentials,
    RateLimited,
    ValidationFailed,
    WeakPassword,
)
from musicez.domain.rate_limit import RateLimit
from tests.support.accounts import STRONG_PASSWORD
from tests.support.world import MakeWorld, World


async def login(world: World, email: str, password: str, client: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return await world.login.execute(Credentials(email, password, client=client, device_name="Phone"))


async def test_register_stores_the_user_and_opens_a_session(world: World) -> None:
    grant = await world.sign_up(" Listener@Example.com ", device="  My   Laptop ")

    async with world.uow() as uow:
        user = await uow.users.get_by_email(Email.parse("listener@example.com"))
    assert user is not None
    assert user.id == grant.user_id
    assert grant.email == "Listener@Example.com"  # v1.1: shown as given (trimmed), compared by key
    assert user.password_hash != STRONG_PASSWORD
    assert await world.password_hasher.verify(STRONG_PASSWORD, user.password_hash)
    assert grant.session.device_name == "My Laptop"
    assert await world.sessions.get(user.id, grant.session.id) is not None
    claims = world.codec.verify(grant.access.token)
    assert (claims.user_id, claims.session_id) == (user.id, grant.session.id)
    assert grant.refresh_token
    assert grant.refresh_expires_at > world.clock.now()
    assert "user_registered" in world.events.names


async def test_register_refuses_a_taken_email_in_any_case(world: World) -> None:
    await world.sign_up("listener@example.com")

    with pytest.raises(EmailTaken):
        await world.sign_up("LISTENER@example.com", password="Another-Strong-Pass-7")


async def test_register_refuses_a_weak_password_before_hashing(world: World) -> None:
    with pytest.raises(WeakPassword) as caught:
        await world.sign_up("jdoe@example.com", password="jdoe")
    assert len(caught.value.errors) >= 3
    assert world.password_hasher.calls == []
    async with world.uow() as uow:
        assert await uow.users.get_by_email(Email.parse("jdoe@example.com")) is None


async def test_register_refuses_an_invalid_email(world: World) -> None:
    with pytest.raises(ValidationFailed):
        await world.sign_up("not-an-email")


async def test_register_is_throttled_per_client(make_world: MakeWorld) -> None:
    world = await make_world(register_rate_limit=RateLimit(3, "minute"))
    for i in range(3):
        await world.sign_up(f"user{i}@example.com")
    with pytest.raises(RateLimited):
        await world.sign_up("user9@example.com")
    # Another client is not affected.
    await world.register.execute(Credentials("user10@example.com", STRONG_PASSWORD, client="10.9.9.9"))


async def test_login_with_the_right_password_opens_a_new_session(world: World) -> None:
    first = await world.sign_up("listener@example.com")

    grant = await login(world, "LISTENER@example.com", STRONG_PASSWORD)

    assert grant.user_id == first.user_id
    assert grant.session.id != first.session.id
    assert grant.session.device_name == "Phone"
    assert len(await world.sessions.list_for_user(first.user_id, world.clock.now())) == 2


async def test_wrong_password_and_unknown_email_cost_the_same_work(world: World) -> None:
    await world.sign_up("listener@example.com")
    world.password_hasher.calls.clear()

    with pytest.raises(InvalidCredentials):
        await login(world, "listener@example.com", "Wrong-Password-123")
    wrong_password_calls = list(world.password_hasher.calls)
    world.password_hasher.calls.clear()

    with pytest.raises(InvalidCredentials):
        await login(world, "nobody@example.com", "Wrong-Password-123")
    unknown_email_calls = list(world.password_hasher.calls)

    assert wrong_password_calls == ["verify"]
    assert unknown_email_calls == ["spend_equal_work"]


@pytest.mark.parametrize("email", ["not an email", "", "nobody@example.com"])
async def test_unknown_or_malformed_email_is_invalid_credentials_after_equal_work(world: World, email: str) -> None:
    with pytest.raises(InvalidCredentials):
        await login(world, email, STRONG_PASSWORD)
    assert world.password_hasher.expensive_calls == 1


async def test_a_password_over_72_bytes_never_reaches_verify(world: World) -> None:
    await world.sign_up("listener@example.com")
    world.password_hasher.calls.clear()

    with pytest.raises(InvalidCredentials):
        await login(world, "listener@example.com", STRONG_PASSWORD + "é" * 40)

    assert world.password_hasher.calls == ["spend_equal_work"]


async def test_repeated_failures_throttle_the_email_and_client_pair(world: World) -> None:
    await world.sign_up("listener@example.com")
    for _ in range(3):  # the world's limit: 3 failures a minute
        with pytest.raises(InvalidCredentials):
            await login(world, "listener@example.com", "Wrong-Password-123")
    world.password_hasher.calls.clear()

    with pytest.raises(RateLimited) as caught:
        await login(world, "listener@example.com", STRONG_PASSWORD)  # even the right password

    assert caught.value.retry_after >= 1
    assert world.password_hasher.calls == []  # refused before any bcrypt work
    assert "login_throttled" in world.events.names
    # Another client, or another address from this client, is not throttled.
    await login(world, "listener@example.com", STRONG_PASSWORD, client="10.7.7.7")
    with pytest.raises(InvalidCredentials):
        await login(world, "other@example.com", "Wrong-Password-123")


async def test_a_login_shed_by_a_saturated_hasher_counts_no_failure_and_reads_nothing(world: World) -> None:
    """In a login storm the hasher sheds at once (503): before the account is looked up, and
    without counting a failure that no password check made (3 a minute in the World)."""
    grant = await world.sign_up()
    world.password_hasher.busy = True
    for _ in range(6):
        with pytest.raises(HashingBusy):
            await login(world, grant.email, STRONG_PASSWORD)
    assert "verify" not in world.password_hasher.calls
    world.password_hasher.busy = False
    assert (await login(world, grant.email, STRONG_PASSWORD)).user_id == grant.user_id


async def test_a_successful_login_clears_the_failure_count(world: World) -> None:
    await world.sign_up("listener@example.com")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await login(world, "listener@example.com", "Wrong-Password-123")

    await login(world, "listener@example.com", STRONG_PASSWORD)

    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await login(world, "listener@example.com", "Wrong-Password-123")
    await login(world, "listener@example.com", STRONG_PASSWORD)


async def test_throttling_keys_on_the_normalised_email(world: World) -> None:
    await world.sign_up("listener@example.com")
    for spelling in ("listener@example.com", "LISTENER@example.com", " Listener@Example.COM "):
        with pytest.raises(InvalidCredentials):
            await login(world, spelling, "Wrong-Password-123")

    with pytest.raises(RateLimited):
        await login(world, "listener@example.com", STRONG_PASSWORD)


async def test_a_disabled_account_cannot_log_in_and_the_flag_reveals_nothing(world: World) -> None:
    """v1.1: the right password learns of the block (403 account_disabled); a wrong one is the
    usual invalid_credentials after the same work, so a guesser learns nothing."""
    grant = await world.sign_up("listener@example.com")
    async with world.uow() as uow:
        await uow.users.set_disabled(grant.user_id, True, "abuse", world.clock.now())
        await uow.commit()
    world.password_hasher.calls.clear()

    # v1.1: the right password says so (403); a wrong one is still invalid_credentials.
    with pytest.raises(AccountDisabled):
        await login(world, "listener@example.com", STRONG_PASSWORD)
    with pytest.raises(InvalidCredentials):
        await login(world, "listener@example.com", "Wrong-Password-0001")
    assert world.password_hasher.calls == ["verify", "verify"]

    async with world.uow() as uow:
        await uow.users.set_disabled(grant.user_id, False, None, world.clock.now())
        await uow.commit()
    await login(world, "listener@example.com", STRONG_PASSWORD)
    async with world.uow() as uow:
        user = await uow.users.get(grant.user_id)
    assert user is not None
    assert user.last_login_at == world.clock.now()


async def test_the_right_password_of_a_disabled_account_is_no_failure(world: World) -> None:
    """Its 403s do not use up the account's failure budget (10 a minute by default)."""
    grant = await world.sign_up("listener@example.com")
    async with world.uow() as uow:
        user = await uow.users.get(grant.user_id)
        assert user is not None
        await uow.users.set_disabled(user.id, True, None, world.clock.now())
        await uow.commit()
    budget = world.throttle_policy.account_failures[0].amount
    for _ in range(budget + 5):
        with pytest.raises(AccountDisabled):
            await world.login.execute(Credentials("listener@example.com", STRONG_PASSWORD, client="10.0.0.9"))
    for attempt in range(budget):  # each from its own address: only the account budget counts
        with pytest.raises(InvalidCredentials):
            await world.login.execute(
                Credentials("listener@example.com", "Wrong-Password-1", client=f"10.1.0.{attempt}")
            )
    with pytest.raises(RateLimited):
        await world.login.execute(Credentials("listener@example.com", STRONG_PASSWORD, client="10.2.0.1"))


async def test_a_concurrent_rehash_of_the_same_password_does_not_undo_a_login(world: World) -> None:
    """Two logins of an old-cost account at once: the first rehashes (same password, new hash)
    while the second checks; the second must not mistake that for a password change."""
    first = await world.sign_up("listener@example.com")
    verify = world.password_hasher.verify
    rehashed = "rehashed$" + STRONG_PASSWORD[::-1]

    async def verify_while_another_login_rehashes(password: str, password_hash: str) -> bool:
        if password_hash == rehashed:
            return password == STRONG_PASSWORD
        ok = await verify(password, password_hash)
        async with world.uow() as uow:
            assert await uow.users.replace_hash(first.user_id, password_hash, rehashed)
            await uow.commit()
        return ok

    world.password_hasher.verify = verify_while_another_login_rehashes  # type: ignore[method-assign]
    grant = await login(world, "listener@example.com", STRONG_PASSWORD)
    assert await world.sessions.get(grant.user_id, grant.session.id) is not None


async def test_a_login_whose_password_is_reset_while_it_hashes_keeps_no_session(world: World) -> None:
    """A reset (or change) that commits and revokes while the old password is being checked:
    the login must not come out of it with a live session."""
    first = await world.sign_up("listener@example.com")
    verify = world.password_hasher.verify

    async def verify_while_the_password_is_reset(password: str, password_hash: str) -> bool:
        ok = await verify(password, password_hash)
        async with world.uow() as uow:  # the reset commits its new hash ...
            await uow.users.set_password(
                first.user_id, await world.password_hasher.hash("Another-Pass-77"), world.clock.now()
            )
            await uow.commit()
        await world.sessions.revoke_all(first.user_id)  # ... then revokes what exists so far
        return ok

    world.password_hasher.verify = verify_while_the_password_is_reset  # type: ignore[method-assign]
    with pytest.raises(InvalidCredentials):
        await login(world, "listener@example.com", STRONG_PASSWORD)
    assert await world.sessions.list_for_user(first.user_id, world.clock.now()) == []
