"""The bcrypt hasher: a bounded backlog, rehash detection, and decoys that cost what known
accounts cost while old and new bcrypt costs coexist (real bcrypt, small costs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import bcrypt
import pytest

from musicez.adapters.security.passwords import BcryptHasher, bcrypt_cost
from musicez.domain.errors import HashingBusy

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def password_hasher() -> Iterator[BcryptHasher]:
    made = BcryptHasher(rounds=6, threads=1)
    yield made
    made.close()


def hash_at(cost: int, password: str = PASSWORD) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


async def test_a_saturated_hasher_refuses_at_once_instead_of_queueing() -> None:
    password_hasher = BcryptHasher(rounds=10, threads=1, max_wait=0.1)
    try:

        async def attempt() -> tuple[bool, float]:
            started = time.perf_counter()
            try:
                await password_hasher.hash(PASSWORD)
            except HashingBusy:
                return False, time.perf_counter() - started
            return True, time.perf_counter() - started

        results = await asyncio.gather(*(attempt() for _ in range(30)))
        done = [seconds for ok, seconds in results if ok]
        refused = [seconds for ok, seconds in results if not ok]
        assert 1 <= len(done) <= 4, results
        assert len(refused) >= 26, results
        assert max(refused) < 0.05, refused  # at once: nothing waited for a thread
        assert password_hasher.pending == 0
    finally:
        password_hasher.close()


async def test_check_capacity_refuses_exactly_when_a_hash_would_be_refused() -> None:
    """The early check of login and register: no hash taken, the same verdict as a hash now."""
    password_hasher = BcryptHasher(rounds=10, threads=1, max_wait=1e-6)  # any wait is too long
    try:
        password_hasher.check_capacity()  # idle: room
        running = asyncio.ensure_future(password_hasher.hash(PASSWORD))
        await asyncio.sleep(0)
        assert password_hasher.pending == 1
        with pytest.raises(HashingBusy):
            password_hasher.check_capacity()
        with pytest.raises(HashingBusy):
            await password_hasher.hash(PASSWORD)
        assert password_hasher.pending == 1  # checking took nothing
        await running
        password_hasher.check_capacity()  # room again
    finally:
        password_hasher.close()


async def test_a_wait_is_admitted_while_it_stays_short() -> None:
    """At a small cost many hashes may wait (each is quick): fifty at once all get through."""
    password_hasher = BcryptHasher(rounds=4, threads=1, max_wait=1.0)
    try:
        hashes = await asyncio.gather(*(password_hasher.hash(PASSWORD) for _ in range(50)))
        assert len(set(hashes)) == 50
    finally:
        password_hasher.close()


def test_only_hashes_of_a_lower_cost_need_a_rehash(password_hasher: BcryptHasher) -> None:
    assert password_hasher.needs_rehash(hash_at(4))
    assert not password_hasher.needs_rehash(hash_at(6))
    assert not password_hasher.needs_rehash(hash_at(7))
    assert not password_hasher.needs_rehash("not a bcrypt hash")
    assert bcrypt_cost(hash_at(5)) == 5


async def test_the_decoy_cost_follows_the_costs_known_accounts_are_verified_at(password_hasher: BcryptHasher) -> None:
    assert password_hasher.decoy_cost("nobody@example.com") == 6  # nothing verified yet: the configured cost
    old = hash_at(4)
    for _ in range(5):
        assert await password_hasher.verify(PASSWORD, old)
    assert {password_hasher.decoy_cost(f"n{i}@example.com") for i in range(50)} == {4}

    new = hash_at(5)
    for _ in range(5):
        assert await password_hasher.verify(PASSWORD, new)
    costs = {f"n{i}@example.com": password_hasher.decoy_cost(f"n{i}@example.com") for i in range(200)}
    assert set(costs.values()) == {4, 5}  # the mix of the population ...
    assert all(password_hasher.decoy_cost(email) == cost for email, cost in costs.items())  # ... steadily per address


async def test_an_unknown_account_costs_what_a_known_old_cost_account_costs() -> None:
    """Configured at cost 10 while every stored hash is still at 6: a decoy at 10 would take
    16 times as long as a known account's check and tell the two apart."""
    password_hasher = BcryptHasher(rounds=10, threads=1)
    try:
        stored = hash_at(6)
        await password_hasher.spend_equal_work(PASSWORD, "warm-up@example.com")

        known = float("inf")
        for _ in range(7):
            started = time.perf_counter()
            assert not await password_hasher.verify("Wrong-Password-1", stored)
            known = min(known, time.perf_counter() - started)
        unknown = float("inf")
        for _ in range(7):
            started = time.perf_counter()
            await password_hasher.spend_equal_work("Wrong-Password-1", "nobody@example.com")
            unknown = min(unknown, time.perf_counter() - started)
        assert unknown < 4 * known, (unknown, known)
        assert known < 4 * unknown, (unknown, known)
    finally:
        password_hasher.close()
