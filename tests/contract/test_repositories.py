"""The UserRepository, ApiKeyRepository and ResetTokenRepository contracts, through the unit
of work: on SQLite, on Postgres, and the in-memory fakes of the unit tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.application.ports import UnitOfWork
from musicez.domain.api_key import ApiKey, display_prefix
from musicez.domain.email import Email
from musicez.domain.errors import EmailTaken
from musicez.domain.ids import ApiKeyId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.user import User
from tests.support.fakes import FakeDatabase, FakeUnitOfWork

MakeUow = Callable[[], UnitOfWork]


@pytest.fixture(params=["sqlite", "postgres", "fake"])
def make_uow(request: pytest.FixtureRequest) -> MakeUow:
    """Each call is a new unit of work on the same database."""
    if request.param == "fake":
        database = FakeDatabase()
        return lambda: FakeUnitOfWork(database)
    sessions = request.getfixturevalue(f"contract_{request.param}_sessions")
    return lambda: SqlUnitOfWork(sessions)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=123456)


def unique_address(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def new_user(address: str | None = None, when: datetime | None = None) -> User:
    when = when or now_utc()
    return User(UserId(uuid.uuid4()), Email.parse(address or unique_address()), "hash-" + uuid.uuid4().hex, when, when)


async def stored_user(make_uow: MakeUow, address: str | None = None) -> User:
    user = new_user(address)
    async with make_uow() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


# --- users --------------------------------------------------------------------------------


async def test_added_user_is_found_by_id_and_by_email(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow, unique_address("Mixed.Case"))

    async with make_uow() as uow:
        assert await uow.users.get(user.id) == user
        assert await uow.users.get_by_email(user.email) == user
        assert await uow.users.get_by_email(Email.parse(user.email.value.upper())) == user
        assert await uow.users.get_by_email(Email.parse(f"  {user.email.value.title()} ")) == user


async def test_unknown_users_are_not_found(make_uow: MakeUow) -> None:
    await stored_user(make_uow)

    async with make_uow() as uow:
        assert await uow.users.get(UserId(uuid.uuid4())) is None
        assert await uow.users.get_by_email(Email.parse(unique_address())) is None


async def test_a_disabled_user_keeps_its_flag(make_uow: MakeUow) -> None:
    when = now_utc()
    user = User(UserId(uuid.uuid4()), Email.parse(unique_address()), "h", when, when, disabled=True)
    async with make_uow() as uow:
        await uow.users.add(user)
        await uow.commit()

    async with make_uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.disabled


@pytest.mark.parametrize("spelling", [str.lower, str.upper, str.title])
async def test_a_duplicate_email_in_any_case_is_taken(make_uow: MakeUow, spelling: Callable[[str], str]) -> None:
    first = await stored_user(make_uow)

    async with make_uow() as uow:
        with pytest.raises(EmailTaken):
            await uow.users.add(new_user(spelling(first.email.value)))

    async with make_uow() as uow:
        assert await uow.users.get_by_email(first.email) == first


async def test_nothing_is_kept_unless_committed(make_uow: MakeUow) -> None:
    user = new_user()
    async with make_uow() as uow:
        await uow.users.add(user)
        assert await uow.users.get(user.id) == user  # visible inside its own transaction

    async with make_uow() as uow:
        assert await uow.users.get(user.id) is None
        assert await uow.users.get_by_email(user.email) is None


async def test_an_error_rolls_the_work_back(make_uow: MakeUow) -> None:
    user = new_user()

    async def fail_midway() -> None:
        async with make_uow() as uow:
            await uow.users.add(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()

    async with make_uow() as uow:
        assert await uow.users.get(user.id) is None
        await uow.users.add(user)  # the email is free again
        await uow.commit()


async def test_one_unit_of_work_can_be_used_twice(make_uow: MakeUow) -> None:
    uow = make_uow()
    user = new_user()
    async with uow:
        await uow.users.add(user)
        await uow.commit()
    async with uow:
        assert await uow.users.get(user.id) == user


async def test_set_password_changes_the_hash_and_the_update_time(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    later = user.updated_at + timedelta(minutes=5)

    async with make_uow() as uow:
        await uow.users.set_password(user.id, "new-hash", later)
        await uow.commit()

    async with make_uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.password_hash == "new-hash"
    assert found.updated_at == later
    assert found.created_at == user.created_at
    assert found.email == user.email


async def test_set_password_is_rolled_back_unless_committed(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)

    async with make_uow() as uow:
        await uow.users.set_password(user.id, "new-hash", now_utc())

    async with make_uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.password_hash == user.password_hash


# --- API keys -----------------------------------------------------------------------------


def new_key(created: datetime | None = None, **fields: object) -> ApiKey:
    key_id = ApiKeyId(uuid.uuid4())
    return ApiKey(
        id=key_id,
        name=f"service {key_id.hex[:6]}",
        prefix=display_prefix(key_id),
        secret_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        created_at=created or now_utc(),
        **fields,  # type: ignore[arg-type]
    )


async def stored_key(make_uow: MakeUow, key: ApiKey) -> ApiKey:
    async with make_uow() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    return key


async def test_api_key_round_trip(make_uow: MakeUow) -> None:
    created = now_utc()
    full = await stored_key(
        make_uow, new_key(created, rate_limit=RateLimit(50, "second"), expires_at=created + timedelta(days=30))
    )
    bare = await stored_key(make_uow, new_key(created))

    async with make_uow() as uow:
        assert await uow.api_keys.get(full.id) == full
        assert await uow.api_keys.get(bare.id) == bare
        assert await uow.api_keys.get(ApiKeyId(uuid.uuid4())) is None


async def test_api_keys_are_listed_oldest_first(make_uow: MakeUow) -> None:
    start = now_utc()
    keys = [await stored_key(make_uow, new_key(start + timedelta(seconds=i))) for i in (2, 0, 1)]

    async with make_uow() as uow:
        listed = [k for k in await uow.api_keys.list() if k.id in {key.id for key in keys}]

    assert listed == sorted(keys, key=lambda k: k.created_at)


async def test_api_key_is_not_kept_unless_committed(make_uow: MakeUow) -> None:
    key = new_key()
    async with make_uow() as uow:
        await uow.api_keys.add(key)

    async with make_uow() as uow:
        assert await uow.api_keys.get(key.id) is None
        assert key.id not in {k.id for k in await uow.api_keys.list()}


async def test_revoking_an_unknown_key_is_false(make_uow: MakeUow) -> None:
    async with make_uow() as uow:
        assert await uow.api_keys.revoke(ApiKeyId(uuid.uuid4()), now_utc()) is False


async def test_revoking_twice_keeps_the_first_time(make_uow: MakeUow) -> None:
    key = await stored_key(make_uow, new_key())
    first, second = now_utc() + timedelta(minutes=1), now_utc() + timedelta(minutes=2)

    async with make_uow() as uow:
        assert await uow.api_keys.revoke(key.id, first) is True
        await uow.commit()
    async with make_uow() as uow:
        assert await uow.api_keys.revoke(key.id, second) is True
        await uow.commit()

    async with make_uow() as uow:
        found = await uow.api_keys.get(key.id)
    assert found is not None
    assert found.revoked_at == first
    assert not found.is_usable(second)


async def test_record_usage_only_moves_forward(make_uow: MakeUow) -> None:
    a = await stored_key(make_uow, new_key())
    b = await stored_key(make_uow, new_key())
    t1 = now_utc() + timedelta(minutes=1)
    t2, t3 = t1 + timedelta(minutes=1), t1 + timedelta(minutes=2)

    async with make_uow() as uow:
        await uow.api_keys.record_usage({a.id: t2, b.id: t1, ApiKeyId(uuid.uuid4()): t3})
        await uow.commit()
    async with make_uow() as uow:
        await uow.api_keys.record_usage({a.id: t1, b.id: t3})
        await uow.commit()

    async with make_uow() as uow:
        found_a, found_b = await uow.api_keys.get(a.id), await uow.api_keys.get(b.id)
    assert found_a is not None
    assert found_a.last_used_at == t2
    assert found_b is not None
    assert found_b.last_used_at == t3


async def test_two_workers_flushing_the_same_keys_at_once_both_commit(contract_postgres_sessions: object) -> None:
    """Every worker flushes usage on the same schedule. Two flushes that update the same rows in
    different orders used to deadlock (Postgres aborted one, and its times were lost)."""
    make_uow: MakeUow = lambda: SqlUnitOfWork(contract_postgres_sessions)  # type: ignore[arg-type]  # noqa: E731
    keys = [await stored_key(make_uow, new_key()) for _ in range(12)]
    when = now_utc() + timedelta(minutes=5)

    async def flush(order: list[ApiKey]) -> None:
        async with make_uow() as uow:
            await uow.api_keys.record_usage({key.id: when for key in order})
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(flush(keys), flush(keys[::-1])), timeout=30)

    async with make_uow() as uow:
        for key in keys:
            found = await uow.api_keys.get(key.id)
            assert found is not None
            assert found.last_used_at == when


# --- password reset tokens ---------------------------------------------------------------


def token_hash() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


async def stored_token(make_uow: MakeUow, user_id: UserId, expires_in: float = 1800) -> str:
    value, now = token_hash(), now_utc()
    async with make_uow() as uow:
        await uow.reset_tokens.replace_for_user(user_id, value, now + timedelta(seconds=expires_in), now)
        await uow.commit()
    return value


async def consume(make_uow: MakeUow, value: str, when: datetime | None = None, commit: bool = True) -> UUID | None:
    async with make_uow() as uow:
        user_id = await uow.reset_tokens.consume(value, when or now_utc())
        if commit:
            await uow.commit()
    return user_id


async def test_a_reset_token_is_consumed_once(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    value = await stored_token(make_uow, user.id)

    assert await consume(make_uow, value) == user.id
    assert await consume(make_uow, value) is None


async def test_an_unknown_reset_token_is_refused(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    await stored_token(make_uow, user.id)

    assert await consume(make_uow, token_hash()) is None


async def test_a_new_reset_token_kills_the_older_ones(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    older = await stored_token(make_uow, user.id)
    newer = await stored_token(make_uow, user.id)

    assert await consume(make_uow, older) is None
    assert await consume(make_uow, newer) == user.id


async def test_revoking_a_users_reset_tokens_spares_other_users(make_uow: MakeUow) -> None:
    user, other = await stored_user(make_uow), await stored_user(make_uow)
    pending, others = await stored_token(make_uow, user.id), await stored_token(make_uow, other.id)
    async with make_uow() as uow:
        await uow.reset_tokens.revoke_for_user(user.id)
        await uow.commit()

    assert await consume(make_uow, pending) is None
    assert await consume(make_uow, others) == other.id


async def test_an_expired_reset_token_is_refused(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    value, now = token_hash(), now_utc()
    async with make_uow() as uow:
        await uow.reset_tokens.replace_for_user(user.id, value, now + timedelta(minutes=30), now)
        await uow.commit()

    assert await consume(make_uow, value, now + timedelta(minutes=30)) is None
    assert await consume(make_uow, value, now + timedelta(minutes=31)) is None
    assert await consume(make_uow, value, now + timedelta(minutes=29)) == user.id


async def test_consuming_kills_every_token_of_that_user_only(make_uow: MakeUow) -> None:
    user, other = await stored_user(make_uow), await stored_user(make_uow)
    older = await stored_token(make_uow, user.id)
    current = await stored_token(make_uow, user.id)
    theirs = await stored_token(make_uow, other.id)

    assert await consume(make_uow, current) == user.id

    assert await consume(make_uow, older) is None
    assert await consume(make_uow, current) is None
    assert await consume(make_uow, theirs) == other.id


async def test_consuming_is_rolled_back_unless_committed(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    value = await stored_token(make_uow, user.id)

    assert await consume(make_uow, value, commit=False) == user.id

    assert await consume(make_uow, value) == user.id


async def test_replacing_is_rolled_back_unless_committed(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    kept = await stored_token(make_uow, user.id)
    now = now_utc()
    async with make_uow() as uow:
        await uow.reset_tokens.replace_for_user(user.id, token_hash(), now + timedelta(minutes=30), now)

    assert await consume(make_uow, kept) == user.id


async def test_a_concurrent_duplicate_email_is_taken(make_uow: MakeUow) -> None:
    """Two registrations racing for one address: exactly one wins, the other gets EmailTaken."""
    address = unique_address()
    first, second = new_user(address), new_user(address.upper())
    racer_started = asyncio.Event()

    async def first_registration() -> None:
        async with make_uow() as uow:
            await uow.users.add(first)
            racer_started.set()
            await asyncio.sleep(0.2)  # the second tries meanwhile (and waits, on a real database)
            await uow.commit()

    async def second_registration() -> None:
        await racer_started.wait()
        async with make_uow() as uow:
            await uow.users.add(second)
            await uow.commit()

    results = await asyncio.wait_for(
        asyncio.gather(first_registration(), second_registration(), return_exceptions=True), 10
    )

    failures = [r for r in results if r is not None]
    assert len(failures) == 1, results
    assert isinstance(failures[0], EmailTaken), results
    winner = first if results[0] is None else second
    loser = second if winner is first else first
    async with make_uow() as uow:
        assert await uow.users.get_by_email(first.email) == winner
        assert await uow.users.get(loser.id) is None


async def test_concurrent_units_of_work_do_not_lose_each_others_rows(make_uow: MakeUow) -> None:
    a, b = new_user(), new_user()
    one, two = make_uow(), make_uow()
    async with one, two:
        await one.users.add(a)
        await one.commit()
        await two.users.add(b)
        await two.commit()

    async with make_uow() as uow:
        assert await uow.users.get(a.id) == a
        assert await uow.users.get(b.id) == b


# --- hardening (issue 11): several live reset links, finding without consuming, rehash ----------


async def add_token(make_uow: MakeUow, user_id: UserId, when: datetime, expires_in: float = 1800) -> str:
    value = token_hash()
    async with make_uow() as uow:
        await uow.reset_tokens.add_for_user(user_id, value, when + timedelta(seconds=expires_in), when, 5)
        await uow.commit()
    return value


async def test_new_reset_tokens_keep_the_five_newest_live(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    start = now_utc()
    tokens = [await add_token(make_uow, user.id, start + timedelta(seconds=i)) for i in range(6)]
    later = start + timedelta(seconds=10)

    async with make_uow() as uow:
        assert await uow.reset_tokens.find(tokens[0], later) is None  # the sixth voided the oldest
        for live in tokens[1:]:
            assert await uow.reset_tokens.find(live, later) == user.id
    # Finding leaves a token usable; consuming one voids all the others.
    assert await consume(make_uow, tokens[3], later) == user.id
    for other in tokens[1:]:
        assert await consume(make_uow, other, later) is None


async def test_expired_and_used_reset_tokens_make_room(make_uow: MakeUow) -> None:
    user, other = await stored_user(make_uow), await stored_user(make_uow)
    start = now_utc()
    expiring = [await add_token(make_uow, user.id, start, expires_in=5) for _ in range(4)]
    others = await add_token(make_uow, other.id, start)
    later = start + timedelta(seconds=60)
    fresh = [await add_token(make_uow, user.id, later) for _ in range(5)]
    async with make_uow() as uow:
        assert all([await uow.reset_tokens.find(t, later) is None for t in expiring])
        assert all([await uow.reset_tokens.find(t, later) == user.id for t in fresh])
        assert await uow.reset_tokens.find(others, later) == other.id  # another user's are untouched


async def test_a_rehash_replaces_only_the_hash_it_was_made_from(make_uow: MakeUow) -> None:
    user = await stored_user(make_uow)
    async with make_uow() as uow:
        assert await uow.users.replace_hash(user.id, user.password_hash, "rehashed")
        await uow.commit()
    async with make_uow() as uow:
        assert not await uow.users.replace_hash(user.id, user.password_hash, "stale rehash")
        await uow.commit()
    async with make_uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.password_hash == "rehashed"


async def test_updated_at_moves_with_the_credentials_only(make_uow: MakeUow) -> None:
    """`updated_at` is the device tokens' credential stamp (application/devices.py): read back to
    the microsecond as it was written, kept by a login and by a rehash of the same password, moved
    by a password change and by a disable or an enable."""
    user = await stored_user(make_uow)
    async with make_uow() as uow:
        await uow.users.record_login(user.id, user.created_at + timedelta(minutes=1))
        assert await uow.users.replace_hash(user.id, user.password_hash, "rehashed")
        await uow.commit()
    async with make_uow() as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.last_login_at is not None
    assert found.updated_at == user.updated_at
    for step, change in enumerate(("password", "disable", "enable"), start=1):
        later = user.updated_at + timedelta(minutes=step, microseconds=step)
        async with make_uow() as uow:
            if change == "password":
                await uow.users.set_password(user.id, "changed", later)
            else:
                await uow.users.set_disabled(user.id, change == "disable", None, later)
            await uow.commit()
        async with make_uow() as uow:
            found = await uow.users.get(user.id)
        assert found is not None
        assert found.updated_at == later, change
