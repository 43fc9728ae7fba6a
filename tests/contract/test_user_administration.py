"""The account-administration part of the UserRepository contract (v1.1: disable, last login,
search with a cursor) and API-key scopes: on SQLite, on Postgres, and the in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from musicez.domain.api_key import ApiKey, display_prefix
from musicez.domain.ids import ApiKeyId
from tests.contract import test_repositories
from tests.contract.test_repositories import MakeUow, new_user, now_utc

make_uow = test_repositories.make_uow  # a fixture


async def test_disable_and_enable_keep_reason_and_time(make_uow: MakeUow) -> None:
    user = new_user()
    async with make_uow() as uow:
        await uow.users.add(user)
        await uow.commit()
    when = now_utc() + timedelta(minutes=1)
    async with make_uow() as uow:
        await uow.users.set_disabled(user.id, True, "chargeback", when)
        await uow.users.record_login(user.id, when)
        await uow.commit()
    async with make_uow() as uow:
        stored = await uow.users.get(user.id)
        by_email = await uow.users.get_by_email(user.email)
    assert stored is not None
    assert stored == by_email
    assert (stored.disabled, stored.disabled_reason, stored.disabled_at, stored.last_login_at) == (
        True,
        "chargeback",
        when,
        when,
    )
    assert stored.password_hash == user.password_hash  # nothing else changed

    async with make_uow() as uow:
        await uow.users.set_disabled(user.id, False, "ignored", when)
        await uow.commit()
    async with make_uow() as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert (stored.disabled, stored.disabled_reason, stored.disabled_at, stored.last_login_at) == (
        False,
        None,
        None,
        when,
    )


async def test_an_uncommitted_disable_is_rolled_back(make_uow: MakeUow) -> None:
    user = new_user()
    async with make_uow() as uow:
        await uow.users.add(user)
        await uow.commit()
    async with make_uow() as uow:
        await uow.users.set_disabled(user.id, True, None, now_utc())
    async with make_uow() as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert stored.disabled is False


async def test_search_pages_in_id_order_with_filters(make_uow: MakeUow) -> None:
    tag = uuid.uuid4().hex[:10]
    base = now_utc()
    # UUIDv7-like ids in creation order; the contract is id order.
    users = [new_user(f"Fan.{tag}.{i}@example.com", base + timedelta(seconds=i)) for i in range(5)]
    users.sort(key=lambda u: u.id)
    async with make_uow() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()
        await uow.users.set_disabled(users[1].id, True, "x", base)
        await uow.commit()

    async with make_uow() as uow:
        first = await uow.users.search(email_contains=f"fan.{tag}", disabled=None, after=None, limit=2)
        rest = await uow.users.search(email_contains=f"FAN.{tag}", disabled=None, after=first[-1].id, limit=10)
        disabled = await uow.users.search(email_contains=tag, disabled=True, after=None, limit=10)
        enabled = await uow.users.search(email_contains=tag, disabled=False, after=None, limit=10)
        wildcard = await uow.users.search(email_contains=f"fan%{tag}", disabled=None, after=None, limit=10)
        underscore = await uow.users.search(email_contains=f"fan_{tag}", disabled=None, after=None, limit=10)
    assert [u.id for u in first] == [u.id for u in users[:2]]
    assert [u.id for u in rest] == [u.id for u in users[2:]]
    assert [u.id for u in disabled] == [users[1].id]
    assert [u.id for u in enabled] == [u.id for u in users if u.id != users[1].id]
    assert wildcard == []
    assert underscore == []  # LIKE wildcards are literal characters


async def test_api_keys_keep_their_scope(make_uow: MakeUow) -> None:
    when = now_utc()
    keys = []
    for scope in ("api", "admin"):
        key_id = ApiKeyId(uuid.uuid4())
        keys.append(ApiKey(key_id, f"{scope}-key", display_prefix(key_id), "h" * 64, when, scope=scope))
    async with make_uow() as uow:
        for key in keys:
            await uow.api_keys.add(key)
        await uow.commit()
    async with make_uow() as uow:
        found = [await uow.api_keys.get(key.id) for key in keys]
        listed = {k.id: k.scope for k in await uow.api_keys.list()}
    assert [k.scope if k else None for k in found] == ["api", "admin"]
    assert (listed[keys[0].id], listed[keys[1].id]) == ("api", "admin")
