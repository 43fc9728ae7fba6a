"""Failure budgets per client address hold across server processes (API.md, Hardening v1.1):
two apps on one Redis, each with its own fence channel, as two workers are. A budget spent on
A is refused on B, before any lookup, for the rest of the window: good credentials and bad
alike (a lookup would accept the one and count the other as B's own failure, answering 401).
Other addresses are not touched. With the fence on and with it off (lease 0: the channel alone)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.adapters.fence.redis import RedisFence
from musicez.application.ports import SpentBudgetNotifier
from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_hardening import assert_refused_by, from_address
from tests.integration.test_api_login import behind_proxy
from tests.support.api import MakeSettings, assert_problem, create_api_key, on_app_loop, register

Client = AsyncTestClient[Litestar]

BUDGET = 3
SCANNER, PARTNER = from_address("198.51.100.120"), from_address("203.0.113.120")


async def listening(client: Client, timeout: float = 5.0) -> None:
    """Until the app reads the channel (it opens it at start-up; a mark told before is not replayed)."""

    async def subscribed(container: Any) -> bool:
        notifier = await container.get(SpentBudgetNotifier)
        assert isinstance(notifier, RedisFence)
        return notifier.fence.subscribed

    deadline = asyncio.get_running_loop().time() + timeout
    while not await on_app_loop(client, subscribed):
        assert asyncio.get_running_loop().time() < deadline, "the app never subscribed to the channel"
        await asyncio.sleep(0.02)


async def until_refused(send: Callable[[], Awaitable[Any]], timeout: float = 3.0) -> Any:
    """Send a good credential until it is refused (the mark is on its way: milliseconds); each
    answer before is a success, which spends nothing."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await send()
        if response.status_code == 429:
            return response
        assert response.status_code == 200, response.text
        assert asyncio.get_running_loop().time() < deadline, "the other process never refused the spent address"
        await asyncio.sleep(0.01)


@pytest.fixture(params=[50, 0], ids=["fence", "fence-off"])
async def pair(request: pytest.FixtureRequest, make_settings: MakeSettings) -> AsyncIterator[tuple[Client, Client]]:
    settings = make_settings(
        api_key_failure_limit=f"{BUDGET}/hour",
        refresh_failure_limit=f"{BUDGET}/hour",
        refresh_session_limit="100000/minute",  # the polls below refresh one session often
        trusted_proxies="10.0.0.0/8",
        fence_lease_ms=request.param,
    )
    a, b = create_app(settings=settings), create_app(settings=settings)
    for app in (a, b):
        behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(a) as on_a, AsyncTestClient(b) as on_b:
        await listening(on_b)
        yield on_a, on_b


async def test_an_api_key_budget_spent_on_one_process_is_refused_on_the_other(pair: tuple[Client, Client]) -> None:
    on_a, on_b = pair
    created = await create_api_key(on_a)
    good = {"X-API-Key": created.secret}
    # B has checked the good key from that address before: it would accept it without a lookup.
    assert (await on_b.get("/auth/me", headers={**good, **SCANNER})).status_code == 200
    for key in ("garbage", f"mez_{'x' * 40}", "mez_nope"):
        assert_problem(await on_a.get("/auth/me", headers={"X-API-Key": key, **SCANNER}), 401, "invalid_api_key")

    assert_refused_by(await until_refused(lambda: on_b.get("/auth/me", headers={**good, **SCANNER})), BUDGET, 3600)
    for _ in range(3):
        for key in (created.secret, "garbage", f"mez_{'y' * 40}"):
            for path in ("/auth/me", "/health"):
                assert_refused_by(await on_b.get(path, headers={"X-API-Key": key, **SCANNER}), BUDGET, 3600)
    for on in (on_a, on_b):
        ok = await on.get("/auth/me", headers={**good, **PARTNER})
        assert ok.status_code == 200, ok.text


async def test_a_refresh_budget_spent_on_one_process_is_refused_on_the_other(pair: tuple[Client, Client]) -> None:
    on_a, on_b = pair
    scanners_token = (await register(on_a))["refresh_token"]
    partners_token = (await register(on_a))["refresh_token"]
    for _ in range(BUDGET):
        refused = await on_a.post("/auth/refresh", json={"refresh_token": "garbage"}, headers=SCANNER)
        assert_problem(refused, 401, "invalid_refresh_token")

    async def refresh_on_b() -> Any:
        nonlocal scanners_token
        response = await on_b.post("/auth/refresh", json={"refresh_token": scanners_token}, headers=SCANNER)
        if response.status_code == 200:
            scanners_token = response.json()["refresh_token"]
        return response

    assert_refused_by(await until_refused(refresh_on_b), BUDGET, 3600)
    for _ in range(3):
        for token in (scanners_token, "garbage"):
            response = await on_b.post("/auth/refresh", json={"refresh_token": token}, headers=SCANNER)
            assert_refused_by(response, BUDGET, 3600)
    ok = await on_b.post("/auth/refresh", json={"refresh_token": partners_token}, headers=PARTNER)
    assert ok.status_code == 200, ok.text
    # Not spent by B's refusals: the scanner's token was never looked up there, and still works elsewhere.
    assert (await on_b.post("/auth/refresh", json={"refresh_token": scanners_token})).status_code == 200
