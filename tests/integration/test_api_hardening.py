"""Hardening (issue 11, API.md "Hardening rules" and "Login body and device tokens", v1.1):
the per-account failure budget and device tokens, the reset-token and API-key failure
budgets, reset links that coexist, and rehashing at the configured cost."""

from __future__ import annotations

import asyncio
import email.message
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dishka import AsyncContainer, Provider, Scope, provide
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.application.ports import PasswordHasher, UnitOfWork
from musicez.domain.email import Email
from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_login import behind_proxy
from tests.integration.test_api_passwords import RESET_URL, forgot, messages, outbox_of, reset_token_from
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import (
    MakeSettings,
    assert_problem,
    bearer,
    create_api_key,
    on_app_loop,
    register,
    run_concurrently,
)

Client = AsyncTestClient[Litestar]
ADDRESSES = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
NEW_PASSWORD = "Brand-New-Melody-42"


async def wait_for_mail(folder: Path, to: str, count: int, timeout: float = 5.0) -> list[email.message.EmailMessage]:
    """The first `count` mails to `to`, oldest first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in messages(folder) if m["To"] == to]
        if len(found) >= count:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"{len(found)} of {count} mails to {to} in {folder}"
        await asyncio.sleep(0.05)


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.fixture(params=["redis", "memory"])
async def client(request: pytest.FixtureRequest, make_settings: MakeSettings) -> AsyncIterator[Client]:
    """The default account budget (10/minute,100/hour), behind a trusted proxy, on Redis and
    on the in-process limiter."""
    overrides: dict[str, Any] = {"trusted_proxies": "10.0.0.0/8", "password_reset_url": RESET_URL}
    if request.param == "memory":
        overrides["redis_url"] = None
    app = create_app(settings=make_settings(**overrides))
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def login(client: Client, email: str, password: str, address: str, **extra: Any) -> Any:
    return await client.post(
        "/auth/login", json={"email": email, "password": password, **extra}, headers=from_address(address)
    )


async def exhaust_account_budget(client: Client, email: str) -> list[int]:
    """Four addresses take turns guessing until the account's budget (10 a minute) is gone."""
    statuses = []
    for attempt in range(12):
        response = await login(client, email, f"Wrong-Guess-{attempt:04d}!", ADDRESSES[attempt % 4])
        statuses.append(response.status_code)
    return statuses


# -- per-account failure budget and device tokens -------------------------------------------------


async def test_failures_from_many_addresses_hit_the_account_budget_whatever_the_password(client: Client) -> None:
    email = unique_email("budget")
    await register(client, email)

    assert await exhaust_account_budget(client, email) == [401] * 10 + [429] * 2
    # The right password, from an address that never failed, without a device token: refused too.
    refused = await login(client, email, STRONG_PASSWORD, "203.0.113.9")
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1


async def test_the_owner_s_login_does_not_wipe_a_guesser_s_failures(client: Client) -> None:
    """Failed logins are limited per account (API.md, 10 a minute by default): the owner's
    successful login in between counts as no failure, and does not start the count over."""
    email = unique_email("interleaved")
    await register(client, email)
    for attempt in range(9):
        response = await login(client, email, f"Wrong-Guess-{attempt:04d}!", ADDRESSES[attempt % 4])
        assert_problem(response, 401, "invalid_credentials")
    owner = await login(client, email, STRONG_PASSWORD, "203.0.113.9")
    assert owner.status_code == 200, owner.text
    assert_problem(await login(client, email, "Wrong-Guess-0009!", ADDRESSES[1]), 401, "invalid_credentials")
    assert_problem(await login(client, email, "Wrong-Guess-0010!", ADDRESSES[2]), 429, "rate_limited")


async def test_an_unknown_email_has_a_budget_too(client: Client) -> None:
    email = unique_email("nobody")
    statuses = [(await login(client, email, STRONG_PASSWORD, ADDRESSES[i % 4])).status_code for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2


async def test_the_owner_with_a_device_token_still_logs_in(client: Client) -> None:
    email = unique_email("owner")
    registered = await register(client, email)
    device_token = registered["device_token"]
    assert isinstance(device_token, str)
    assert len(device_token) >= 22  # >= 128 bits, encoded

    await exhaust_account_budget(client, email)

    response = await login(client, email, STRONG_PASSWORD, "203.0.113.9", device_token=device_token)
    assert response.status_code == 200, response.text
    renewed = response.json()["device_token"]
    assert renewed != device_token
    # Each login returns a new one; the earlier one stays valid.
    again = await login(client, email, STRONG_PASSWORD, "203.0.113.9", device_token=device_token)
    assert again.status_code == 200, again.text
    assert (await login(client, email, STRONG_PASSWORD, "203.0.113.9", device_token=renewed)).status_code == 200
    # Its failures are still failures (401, counted), and without it the account stays locked.
    wrong = await login(client, email, "Wrong-Guess-with-device", "203.0.113.9", device_token=renewed)
    assert_problem(wrong, 401, "invalid_credentials")
    assert_problem(await login(client, email, STRONG_PASSWORD, "203.0.113.10"), 429, "rate_limited")


async def test_a_password_change_voids_the_device_tokens_made_before_it(client: Client) -> None:
    """Whoever logged in with the old password (a phisher, a shared computer) keeps no way past
    the account's failure budget once the owner changed it; a login after the change gets a token
    that works. The review's finding: the token outlived every credential change."""
    email = unique_email("changed")
    registered = await register(client, email)
    old_device = registered["device_token"]
    changed = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers={**bearer(registered), **from_address("203.0.113.9")},
    )
    assert changed.status_code == 204, changed.text
    fresh = await login(client, email, NEW_PASSWORD, "203.0.113.9")
    assert fresh.status_code == 200, fresh.text
    new_device = fresh.json()["device_token"]

    await exhaust_account_budget(client, email)

    assert_problem(
        await login(client, email, NEW_PASSWORD, "203.0.113.9", device_token=old_device), 429, "rate_limited"
    )
    assert (await login(client, email, NEW_PASSWORD, "203.0.113.9", device_token=new_device)).status_code == 200


def rate_headers(response: Any) -> tuple[int, int, int]:
    """`RateLimit-Limit`, `-Remaining` and `-Reset` (API.md "Rate limits")."""
    return tuple(int(response.headers[f"ratelimit-{name}"]) for name in ("limit", "remaining", "reset"))  # type: ignore[return-value]


def assert_refused_by(response: Any, limit: int, window: int) -> None:
    """429 whose headers describe the limit that refused it: Remaining 0, Reset = Retry-After."""
    assert_problem(response, 429, "rate_limited")
    assert rate_headers(response)[:2] == (limit, 0), response.headers
    assert response.headers["ratelimit-reset"] == response.headers["retry-after"], response.headers
    assert 1 <= int(response.headers["retry-after"]) <= window


async def test_the_account_budget_is_described_by_the_rate_limit_headers(client: Client) -> None:
    """One address (its own per (email, client) limit of 20 further from exhaustion): the 401s
    count the account's 10 a minute down, and its 429 says that window, as Retry-After does."""
    email = unique_email("headers")
    device_token = (await register(client, email))["device_token"]
    remaining = []
    for attempt in range(10):
        response = await login(client, email, f"Wrong-Guess-{attempt:04d}!", ADDRESSES[0])
        assert_problem(response, 401, "invalid_credentials")
        limit, left, reset = rate_headers(response)
        assert limit == 10
        assert 1 <= reset <= 60
        remaining.append(left)
    assert remaining == list(range(9, -1, -1))
    for address in (ADDRESSES[0], "203.0.113.9"):  # and from an address that never failed
        assert_refused_by(await login(client, email, STRONG_PASSWORD, address), 10, 60)
    # A device of the account gets past it: the budget is not its limit, so not in its headers.
    device = await login(client, email, STRONG_PASSWORD, "203.0.113.9", device_token=device_token)
    assert device.status_code == 200, device.text
    assert rate_headers(device)[0] != 10, device.headers


async def test_the_hourly_account_limit_is_described_by_its_own_window(make_settings: MakeSettings) -> None:
    """With the hour's limit hit, Reset says the hour, as Retry-After does (not the minute's)."""
    app = create_app(settings=make_settings(account_failure_limit="100/minute,3/hour"))
    async with AsyncTestClient(app) as client:
        email = unique_email("hourly-headers")
        await register(client, email)
        for attempt in range(3):
            response = await login(client, email, f"Wrong-{attempt}-Guess!", ADDRESSES[0])
            assert_problem(response, 401, "invalid_credentials")
            assert rate_headers(response)[:2] == (3, 2 - attempt), response.headers
        refused = await login(client, email, "Wrong-3-Guess!", ADDRESSES[0])
        assert_refused_by(refused, 3, 3600)
        assert int(refused.headers["retry-after"]) > 60


async def test_a_device_token_of_one_account_does_not_help_another(client: Client) -> None:
    alice, bob = unique_email("alice"), unique_email("bob")
    alices = (await register(client, alice))["device_token"]
    await register(client, bob)

    await exhaust_account_budget(client, bob)

    for token in (alices, alices[:-2] + "AA", "mezd_" + "A" * 75, "not-a-device-token"):
        response = await login(client, bob, STRONG_PASSWORD, "203.0.113.9", device_token=token)
        assert_problem(response, 429, "rate_limited")


async def test_a_device_token_is_no_bearer_and_no_refresh_token(client: Client) -> None:
    registered = await register(client)
    device_token = registered["device_token"]

    as_bearer = await client.get("/auth/me", headers={"Authorization": f"Bearer {device_token}"})
    assert_problem(as_bearer, 401, "invalid_token")
    as_refresh = await client.post("/auth/refresh", json={"refresh_token": device_token})
    assert_problem(as_refresh, 401, "invalid_refresh_token")
    refreshed = await client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert "device_token" not in refreshed.json()


@pytest.mark.parametrize("store", ["redis", "memory"])
async def test_parallel_guesses_are_counted_exactly_against_the_account(
    make_settings: MakeSettings, store: str
) -> None:
    # The per-(email, client) limit is out of the way: only the account budget decides.
    overrides: dict[str, Any] = {"login_rate_limit": "1000/minute", "account_failure_limit": "7/minute"}
    if store == "memory":
        overrides["redis_url"] = None
    app = create_app(settings=make_settings(**overrides))
    async with AsyncTestClient(app) as client:
        email = unique_email("race")
        await register(client, email)
        guesses = [
            ("POST", "/auth/login", {"json": {"email": email, "password": f"Guess-{i:03d}-abc!"}}) for i in range(20)
        ]
        statuses = sorted(r.status_code for r in await run_concurrently(client, guesses))
        assert statuses == [401] * 7 + [429] * 13


async def test_every_limit_of_the_list_applies(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(account_failure_limit="100/minute,3/hour"))
    async with AsyncTestClient(app) as client:
        email = unique_email("hourly")
        await register(client, email)
        statuses = [(await login(client, email, f"Wrong-{i}-Guess!", ADDRESSES[i % 4])).status_code for i in range(5)]
        assert statuses == [401, 401, 401, 429, 429]


async def test_wrong_current_passwords_on_change_count_against_the_account(client: Client) -> None:
    email = unique_email("change")
    tokens = await register(client, email)
    for attempt in range(10):
        response = await client.post(
            "/auth/password/change",
            json={"current_password": f"Not-The-Password-{attempt}", "new_password": NEW_PASSWORD},
            headers=bearer(tokens),
        )
        assert_problem(response, 400, "invalid_current_password")
    assert_problem(await login(client, email, STRONG_PASSWORD, "203.0.113.9"), 429, "rate_limited")
    device = await login(client, email, STRONG_PASSWORD, "203.0.113.9", device_token=tokens["device_token"])
    assert device.status_code == 200, device.text


async def test_wrong_current_passwords_on_change_are_described_by_the_account_budget(client: Client) -> None:
    email = unique_email("change-headers")
    tokens = await register(client, email)
    body = {"current_password": "Not-The-Password-1", "new_password": NEW_PASSWORD}
    remaining = []
    for _ in range(10):
        response = await client.post("/auth/password/change", json=body, headers=bearer(tokens))
        assert_problem(response, 400, "invalid_current_password")
        assert rate_headers(response)[0] == 10, response.headers
        remaining.append(rate_headers(response)[1])
    assert remaining == list(range(9, -1, -1))
    refused = await client.post("/auth/password/change", json=body, headers=bearer(tokens))
    assert_refused_by(refused, 10, 60)


async def test_a_successful_login_is_not_a_failure(client: Client) -> None:
    email = unique_email("honest")
    await register(client, email)
    for attempt in range(9):
        assert (await login(client, email, f"Typo-{attempt}-Password", ADDRESSES[attempt % 3])).status_code == 401
    for _ in range(5):  # the right password, again and again: none of it counts against the budget
        assert (await login(client, email, STRONG_PASSWORD, ADDRESSES[3])).status_code == 200
    assert (await login(client, email, "Typo-9-Password", ADDRESSES[0])).status_code == 401  # the 10th failure


# -- reset links ---------------------------------------------------------------------------------


async def test_a_new_reset_link_does_not_void_an_earlier_one(client: Client) -> None:
    email = unique_email("links")
    await register(client, email)
    tokens: list[str] = []
    for _ in range(2):
        assert (await forgot(client, email)).status_code == 202
        tokens.append(reset_token_from((await wait_for_mail(outbox_of(client), email, count=len(tokens) + 1))[-1]))
    first, second = tokens
    assert first != second

    reset = await client.post("/auth/password/reset", json={"token": first, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    # A completed reset voids them all.
    stale = await client.post("/auth/password/reset", json={"token": second, "new_password": NEW_PASSWORD + "x"})
    assert_problem(stale, 400, "invalid_reset_token")


async def test_the_reset_mail_quota_counts_per_email_and_address(make_settings: MakeSettings) -> None:
    app = create_app(
        settings=make_settings(
            forgot_email_rate_limit="2/hour", trusted_proxies="10.0.0.0/8", password_reset_url=RESET_URL
        )
    )
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        email = unique_email("quota")
        await register(client, email)
        pest, owner = from_address("198.51.100.66"), from_address("203.0.113.5")
        for _ in range(4):
            response = await client.post("/auth/password/forgot", json={"email": email}, headers=pest)
            assert response.status_code == 202
        await wait_for_mail(outbox_of(client), email, count=2)
        response = await client.post("/auth/password/forgot", json={"email": email}, headers=owner)
        assert response.status_code == 202
        mails = await wait_for_mail(outbox_of(client), email, count=3)
        token = reset_token_from(mails[-1])
        reset = await client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
        assert reset.status_code == 204, reset.text


# -- reset-token and API-key failure budgets ---------------------------------------------------


async def test_reset_token_failures_are_budgeted_per_address(make_settings: MakeSettings) -> None:
    app = create_app(
        settings=make_settings(reset_failure_limit="3/hour", trusted_proxies="10.0.0.0/8", password_reset_url=RESET_URL)
    )
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        email = unique_email("resetbudget")
        await register(client, email)
        assert (await forgot(client, email)).status_code == 202
        token = reset_token_from((await wait_for_mail(outbox_of(client), email, count=1))[0])
        scanner, owner = from_address("198.51.100.77"), from_address("203.0.113.5")
        bad = ["short", "A" * 43, "B" * 43]
        for guess in bad:
            response = await client.post(
                "/auth/password/reset", json={"token": guess, "new_password": NEW_PASSWORD}, headers=scanner
            )
            assert_problem(response, 400, "invalid_reset_token")
        # Past the budget, refused before any lookup: even a real token, from that address.
        refused = await client.post(
            "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}, headers=scanner
        )
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        ok = await client.post(
            "/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}, headers=owner
        )
        assert ok.status_code == 204, ok.text


async def test_the_reset_token_failure_budget_is_described_by_the_rate_limit_headers(
    make_settings: MakeSettings,
) -> None:
    app = create_app(
        settings=make_settings(reset_failure_limit="2/hour", trusted_proxies="10.0.0.0/8", password_reset_url=RESET_URL)
    )
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        scanner = from_address("198.51.100.78")
        body = {"token": "A" * 43, "new_password": NEW_PASSWORD}
        for left in (1, 0):
            response = await client.post("/auth/password/reset", json=body, headers=scanner)
            assert_problem(response, 400, "invalid_reset_token")
            assert rate_headers(response)[:2] == (2, left), response.headers
        assert_refused_by(await client.post("/auth/password/reset", json=body, headers=scanner), 2, 3600)


async def test_api_key_failures_are_budgeted_per_address(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(api_key_failure_limit="3/hour", trusted_proxies="10.0.0.0/8"))
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        created = await create_api_key(client)
        scanner, partner = from_address("198.51.100.88"), from_address("203.0.113.6")
        flipped = "A" if created.secret[-10] != "A" else "B"
        wrong = created.secret[:-10] + flipped + created.secret[-9:]  # a well-formed key that is not it
        # The real key, checked once before the budget runs out (the guard keeps what it checked):
        # still refused from that address below.
        known = await client.get("/auth/me", headers={"X-API-Key": created.secret, **scanner})
        assert known.status_code == 200, known.text
        for key in ("garbage", f"mez_{'x' * 40}", wrong):
            response = await client.get("/auth/me", headers={"X-API-Key": key, **scanner})
            assert_problem(response, 401, "invalid_api_key")
        refused = await client.get("/auth/me", headers={"X-API-Key": created.secret, **scanner})
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        ok = await client.get("/auth/me", headers={"X-API-Key": created.secret, **partner})
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("path", ["/auth/me", "/health"])
async def test_the_api_key_failure_budget_is_described_by_the_rate_limit_headers(
    make_settings: MakeSettings, path: str
) -> None:
    """Each refused key's 401 counts the address's budget down; its 429 (remembered, before any
    lookup) says that budget is spent until Retry-After. A good key's response describes the
    principal's limit, the one closest to exhaustion then."""
    app = create_app(
        settings=make_settings(api_key_failure_limit="3/hour", rate_limit="2/minute", trusted_proxies="10.0.0.0/8")
    )
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        created = await create_api_key(client)
        scanner = from_address("198.51.100.90")
        remaining = []
        for key in ("garbage", f"mez_{'x' * 40}", "mez_nope"):
            response = await client.get(path, headers={"X-API-Key": key, **scanner})
            assert_problem(response, 401, "invalid_api_key")
            limit, left, reset = rate_headers(response)
            assert limit == 3
            assert 1 <= reset <= 3600
            remaining.append(left)
        assert remaining == [2, 1, 0]
        for _ in range(2):
            refused = await client.get(path, headers={"X-API-Key": created.secret, **scanner})
            assert_refused_by(refused, 3, 3600)
        if path == "/auth/me":
            ok = await client.get(path, headers={"X-API-Key": created.secret, **from_address("203.0.113.8")})
            assert ok.status_code == 200, ok.text
            assert rate_headers(ok)[:2] == (2, 1), ok.headers


@pytest.mark.parametrize("path", ["/health", "/metrics"])
async def test_api_key_failures_on_routes_that_check_their_own_credentials_are_budgeted_too(
    make_settings: MakeSettings, path: str
) -> None:
    """/health checks credentials without the guard, /metrics through its scrape rule: a scanner
    trying keys there spends the same per-address budget, and is then refused with 429 before any lookup."""
    app = create_app(settings=make_settings(api_key_failure_limit="3/hour", trusted_proxies="10.0.0.0/8"))
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        created = await create_api_key(client)
        scanner, partner = from_address("198.51.100.89"), from_address("203.0.113.7")
        for key in ("garbage", f"mez_{'x' * 40}", "mez_nope"):
            response = await client.get(path, headers={"X-API-Key": key, **scanner})
            assert_problem(response, 401, "invalid_api_key")
        refused = await client.get(path, headers={"X-API-Key": created.secret, **scanner})
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        elsewhere = await client.get("/auth/me", headers={"X-API-Key": created.secret, **scanner})
        assert_problem(elsewhere, 429, "rate_limited")
        ok = await client.get(path, headers={"X-API-Key": created.secret, **partner})
        assert ok.status_code == 200, ok.text


# -- rehash at the configured cost ---------------------------------------------------------------


async def stored_hash(client: Client, email: str) -> str:
    async def read(container: AsyncContainer) -> str:
        uow: UnitOfWork = await container.get(UnitOfWork)
        async with uow:
            user = await uow.users.get_by_email(Email.parse(email))
        assert user is not None
        return user.password_hash

    return str(await on_app_loop(client, read))


async def test_a_hash_of_a_lower_cost_is_rehashed_on_the_next_successful_login(make_settings: MakeSettings) -> None:
    email = unique_email("rehash")
    async with AsyncTestClient(create_app(settings=make_settings(bcrypt_rounds=4))) as old:
        await register(old, email)
        assert (await stored_hash(old, email)).startswith("$2b$04$")
    async with AsyncTestClient(create_app(settings=make_settings(bcrypt_rounds=5))) as new:
        assert (
            await new.post("/auth/login", json={"email": email, "password": "Wrong-Password-42"})
        ).status_code == 401
        assert (await stored_hash(new, email)).startswith("$2b$04$")  # only a successful login rehashes
        assert (await new.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})).status_code == 200
        rehashed = await stored_hash(new, email)
        assert rehashed.startswith("$2b$05$")
        assert (await new.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})).status_code == 200
        assert await stored_hash(new, email) == rehashed  # once


# -- bounded hashing -------------------------------------------------------------------------------


async def test_a_login_flood_gets_fast_503s_while_a_real_login_and_liveness_stay_fast(
    make_settings: MakeSettings,
) -> None:
    import httpx

    settings = make_settings(bcrypt_rounds=10, bcrypt_threads=1, bcrypt_max_wait=0.3)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        email = unique_email("real")
        await register(client, email)

        async def flood_and_measure() -> tuple[list[Any], Any, float, float]:
            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as inner:
                flood = [
                    asyncio.ensure_future(
                        inner.post("/auth/login", json={"email": unique_email("flood"), "password": f"Guess-{i:04d}!"})
                    )
                    for i in range(150)
                ]
                await asyncio.sleep(0.05)
                started = time.perf_counter()
                live = await inner.get("/health/live")
                live_seconds = time.perf_counter() - started
                assert live.status_code == 200
                started = time.perf_counter()
                real = await inner.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
                real_seconds = time.perf_counter() - started
                return list(await asyncio.gather(*flood)), real, real_seconds, live_seconds

        flood, real, real_seconds, live_seconds = await asyncio.to_thread(
            client.blocking_portal.call, flood_and_measure
        )
        assert real.status_code in (200, 503), real.text
        assert real_seconds < 3, real_seconds
        assert live_seconds < 1, live_seconds
        statuses = {r.status_code for r in flood}
        assert statuses <= {401, 503}, statuses
        busy = [r for r in flood if r.status_code == 503]
        assert len(busy) >= 50, len(busy)  # most of the flood was refused, not queued
        assert_problem(busy[0], 503, "service_unavailable")
        assert int(busy[0].headers["Retry-After"]) >= 1


# -- client ids on security events ---------------------------------------------------------------


async def test_security_events_carry_a_client_id_and_never_the_address(make_settings: MakeSettings) -> None:
    from tests.integration.test_ops_logs import server_log

    app = create_app(settings=make_settings(trusted_proxies="10.0.0.0/8", log_format="json"))
    behind_proxy(app, "10.1.2.3")
    with server_log() as stream:
        async with AsyncTestClient(app) as client:
            email = unique_email("events")
            await register(client, email)
            # one address in two spellings (IPv4-mapped, with a port), then another
            for address in ("203.0.113.77", "::ffff:203.0.113.77", "198.51.100.254"):
                response = await login(client, email, "Wrong-Password-77", address)
                assert response.status_code == 401
            api_key = await client.get(
                "/auth/me", headers={"X-API-Key": "garbage", **from_address("203.0.113.77:8080")}
            )
            assert api_key.status_code == 401
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    failed = [line for line in lines if line.get("event") == "login_failed"]
    assert len(failed) == 3, lines
    ids = [line["client_id"] for line in failed]
    assert ids[0] == ids[1] != ids[2]  # one address, one id (for the day)
    assert all(len(i) >= 16 for i in ids)
    [invalid_key] = [line for line in lines if line.get("event") == "api_key_invalid"]
    assert invalid_key["client_id"] == ids[0]
    text = stream.getvalue()
    for address in ("203.0.113.77", "198.51.100.254", "10.1.2.3"):
        assert address not in text


# -- a reset hashes outside its transaction --------------------------------------------------------


class LockProbe:
    """The real hasher, which first tries to lock every reset-token row from another connection
    (NOWAIT): a reset that hashed inside its transaction would hold its token's row lock."""

    def __init__(self, engine: Any) -> None:
        from musicez.adapters.security.passwords import BcryptHasher

        self.inner = BcryptHasher(4, 1)
        self.engine = engine
        self.locked: list[bool] = []

    async def hash(self, password: str) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        async with self.engine.connect() as connection:
            try:
                await connection.execute(text("SELECT 1 FROM password_reset_tokens FOR UPDATE NOWAIT"))
                self.locked.append(False)
            except DBAPIError:
                self.locked.append(True)
            await connection.rollback()
        return await self.inner.hash(password)

    async def verify(self, password: str, password_hash: str) -> bool:
        return await self.inner.verify(password, password_hash)

    async def spend_equal_work(self, password: str, account: str = "") -> None:
        await self.inner.spend_equal_work(password, account)

    def check_capacity(self) -> None:
        self.inner.check_capacity()

    def needs_rehash(self, password_hash: str) -> bool:
        return self.inner.needs_rehash(password_hash)


class Probing(Provider):
    scope = Scope.APP

    def __init__(self, probes: list[LockProbe]) -> None:
        super().__init__()
        self.probes = probes

    @provide
    def password_hasher(self, engine: AsyncEngine) -> PasswordHasher:
        self.probes.append(LockProbe(engine))
        return self.probes[-1]


async def test_a_reset_hashes_without_holding_a_row_lock(make_settings: MakeSettings) -> None:
    probes: list[LockProbe] = []
    app = create_app(Probing(probes), settings=make_settings(password_reset_url=RESET_URL))
    async with AsyncTestClient(app) as client:
        email = unique_email("nolock")
        await register(client, email)
        assert (await forgot(client, email)).status_code == 202
        token = reset_token_from((await wait_for_mail(outbox_of(client), email, count=1))[0])
        probes[0].locked.clear()
        reset = await client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
        assert reset.status_code == 204, reset.text
        assert probes[0].locked == [False]
        login = await client.post("/auth/login", json={"email": email, "password": NEW_PASSWORD})
        assert login.status_code == 200
