"""Why a session ended (API.md v1.1): the 401 of its access token and of its refresh token
carry `reason`, on the Redis store and on the in-process store; and the refresh limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_passwords import RESET_URL, reset_token_for
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer

Client = AsyncTestClient[Litestar]
Grant = dict[str, Any]
OTHER_PASSWORD = "Tr0ub4dor&3-Mountain-Range"


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_client(make_settings: MakeSettings, store: str) -> Callable[..., Any]:
    """An app on the chosen session store, with settings overrides for this test."""

    def make(**overrides: Any) -> Any:
        if store == "memory":
            overrides["redis_url"] = None
        return AsyncTestClient(create_app(settings=make_settings(password_reset_url=RESET_URL, **overrides)))

    return make


@pytest.fixture
async def client(open_client: Callable[..., Any]) -> AsyncIterator[Client]:
    async with open_client() as test_client:
        yield test_client


async def sign_up(client: Client) -> tuple[str, Grant]:
    address = unique_email("ended")
    response = await client.post("/auth/register", json={"email": address, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text
    return address, response.json()


async def log_in(client: Client, address: str, password: str = STRONG_PASSWORD) -> Grant:
    response = await client.post("/auth/login", json={"email": address, "password": password})
    assert response.status_code == 200, response.text
    body: Grant = response.json()
    return body


async def refresh(client: Client, token: str) -> Any:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def assert_ended(client: Client, grant: Grant, reason: str) -> None:
    """Both tokens of the ended session say why."""
    me = assert_problem(await client.get("/auth/me", headers=bearer(grant)), 401, "token_revoked")
    assert me.get("reason") == reason, me
    # A guarded route goes through the same guard.
    sessions = assert_problem(await client.get("/auth/sessions", headers=bearer(grant)), 401, "token_revoked")
    assert sessions.get("reason") == reason, sessions
    refused = assert_problem(await refresh(client, grant["refresh_token"]), 401, "invalid_refresh_token")
    assert refused.get("reason") == reason, refused


async def assert_alive(client: Client, grant: Grant) -> None:
    assert (await client.get("/auth/me", headers=bearer(grant))).status_code == 200


async def post(client: Client, path: str, grant: Grant, body: Any = None) -> None:
    response = await client.post(path, headers=bearer(grant), json=body)
    assert response.status_code == 204, response.text


async def test_logout(client: Client) -> None:
    _, grant = await sign_up(client)
    await post(client, "/auth/logout", grant)
    await assert_ended(client, grant, "logout")


async def test_logout_all(client: Client) -> None:
    address, first = await sign_up(client)
    second = await log_in(client, address)
    await post(client, "/auth/logout-all", first)
    await assert_ended(client, first, "logout_all")
    await assert_ended(client, second, "logout_all")


async def test_logout_others(client: Client) -> None:
    address, first = await sign_up(client)
    second = await log_in(client, address)
    await post(client, "/auth/logout-others", first)
    await assert_alive(client, first)
    await assert_ended(client, second, "ended_from_other_device")


async def test_delete_of_another_session_and_of_ones_own(client: Client) -> None:
    address, first = await sign_up(client)
    second = await log_in(client, address)
    response = await client.delete(f"/auth/sessions/{second['session_id']}", headers=bearer(first))
    assert response.status_code == 204, response.text
    await assert_ended(client, second, "ended_from_other_device")
    response = await client.delete(f"/auth/sessions/{first['session_id']}", headers=bearer(first))
    assert response.status_code == 204, response.text
    await assert_ended(client, first, "logout")


async def test_password_change(client: Client) -> None:
    address, first = await sign_up(client)
    second = await log_in(client, address)
    await post(
        client, "/auth/password/change", first, {"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD}
    )
    await assert_alive(client, first)
    await assert_ended(client, second, "password_changed")


async def test_password_reset(client: Client) -> None:
    address, first = await sign_up(client)
    second = await log_in(client, address)
    token = await reset_token_for(client, address)
    response = await client.post("/auth/password/reset", json={"token": token, "new_password": OTHER_PASSWORD})
    assert response.status_code == 204, response.text
    await assert_ended(client, first, "password_reset")
    await assert_ended(client, second, "password_reset")


async def test_reuse_detected(open_client: Callable[..., Any]) -> None:
    async with open_client(refresh_reuse_grace=0) as client:
        _, first = await sign_up(client)
        rotated = await refresh(client, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert_problem(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
        # The thief's replay ended the session: the victim's current tokens say why.
        await assert_ended(client, rotated.json(), "reuse_detected")


async def test_expired(open_client: Callable[..., Any]) -> None:
    async with open_client(refresh_token_ttl=1) as client:
        _, grant = await sign_up(client)
        assert grant["refresh_expires_in"] == 1
        await asyncio.sleep(1.3)
        await assert_ended(client, grant, "expired")


async def test_max_age(open_client: Callable[..., Any]) -> None:
    async with open_client(session_max_age=2) as client:
        _, first = await sign_up(client)
        await asyncio.sleep(0.3)
        rotated = await refresh(client, first["refresh_token"])  # rotation cannot outlive the max age
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["refresh_expires_in"] <= 2
        await asyncio.sleep(2.0)
        await assert_ended(client, rotated.json(), "max_age")


async def test_a_live_session_and_an_unknown_token_carry_no_reason(client: Client) -> None:
    _, grant = await sign_up(client)
    await assert_alive(client, grant)
    forged = grant["refresh_token"][:-8] + ("A" * 8 if not grant["refresh_token"].endswith("A" * 8) else "B" * 8)
    body = assert_problem(await refresh(client, forged), 401, "invalid_refresh_token")
    assert "reason" not in body
    assert (await refresh(client, grant["refresh_token"])).status_code == 200


# --- refresh limits ---------------------------------------------------------------------------


async def test_successful_refreshes_are_limited_per_session(open_client: Callable[..., Any]) -> None:
    async with open_client(refresh_session_limit="2/second") as client:
        address, grant = await sign_up(client)
        other = await log_in(client, address)
        token = grant["refresh_token"]
        for _ in range(2):
            response = await refresh(client, token)
            assert response.status_code == 200, response.text
            token = response.json()["refresh_token"]

        over = await refresh(client, token)

        assert_problem(over, 429, "rate_limited")
        assert 1 <= int(over.headers["retry-after"]) <= 2
        # Another session of the same user has its own budget.
        assert (await refresh(client, other["refresh_token"])).status_code == 200
        # Nothing rotated: once the window has passed, the same token rotates (it was not reused).
        await asyncio.sleep(1.1)
        assert (await refresh(client, token)).status_code == 200


async def test_refresh_responses_carry_the_session_limit_in_rate_limit_headers(open_client: Callable[..., Any]) -> None:
    """API.md: responses of limited routes carry RateLimit-Limit/-Remaining/-Reset; a refresh is
    limited per session (retries within the grace count too), and its 429 says so as well."""
    async with open_client(refresh_session_limit="3/minute") as client:
        _, grant = await sign_up(client)
        token = grant["refresh_token"]
        remaining = []
        for _ in range(2):
            response = await refresh(client, token)
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "3"
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
            remaining.append(response.headers["ratelimit-remaining"])
            previous, token = token, response.json()["refresh_token"]
        retried = await refresh(client, previous)  # the grace retry: same successor, counted
        assert retried.status_code == 200, retried.text
        remaining.append(retried.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        over = await refresh(client, token)
        assert_problem(over, 429, "rate_limited")
        assert over.headers["ratelimit-limit"] == "3"
        assert over.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(over.headers["ratelimit-reset"]) <= 60
        assert over.headers["ratelimit-reset"] == over.headers["retry-after"]


async def test_refresh_failures_carry_the_address_budget_in_rate_limit_headers(
    open_client: Callable[..., Any],
) -> None:
    """API.md: the per-address budget of failed refreshes limits the route, so its 401s count it
    down and its 429 (before any lookup) says it is spent until Retry-After."""
    async with open_client(refresh_failure_limit="3/minute", refresh_session_limit="50/minute") as client:
        _, grant = await sign_up(client)
        remaining = []
        for _ in range(3):
            response = await refresh(client, "bogus")
            assert_problem(response, 401, "invalid_refresh_token")
            assert response.headers["ratelimit-limit"] == "3"
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
            remaining.append(response.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        for presented in ("bogus", grant["refresh_token"]):
            over = await refresh(client, presented)
            assert_problem(over, 429, "rate_limited")
            assert over.headers["ratelimit-limit"] == "3"
            assert over.headers["ratelimit-remaining"] == "0"
            assert over.headers["ratelimit-reset"] == over.headers["retry-after"]
            assert 1 <= int(over.headers["retry-after"]) <= 60


async def test_a_successful_refresh_describes_its_session_limit_not_the_failure_budget(
    open_client: Callable[..., Any],
) -> None:
    """The honest path never reads the per-address failure budget (no extra round trip): a
    success after a failure carries the session's limit, as before."""
    async with open_client(refresh_failure_limit="3/minute", refresh_session_limit="50/minute") as client:
        _, grant = await sign_up(client)
        assert_problem(await refresh(client, "bogus"), 401, "invalid_refresh_token")
        fine = await refresh(client, grant["refresh_token"])
        assert fine.status_code == 200, fine.text
        assert fine.headers["ratelimit-limit"] == "50"
        assert fine.headers["ratelimit-remaining"] == "49"


async def test_refresh_failures_are_limited_per_client_address(open_client: Callable[..., Any]) -> None:
    async with open_client(refresh_failure_limit="3/minute") as client:
        _, grant = await sign_up(client)
        token = grant["refresh_token"]
        for _ in range(5):  # successes are not failures
            response = await refresh(client, token)
            assert response.status_code == 200, response.text
            token = response.json()["refresh_token"]
        for bad in ("garbage", "A" * 118, token[:-4] + "AAAA"):
            assert_problem(await refresh(client, bad), 401, "invalid_refresh_token")

        # Past the budget, even a good token from this address is refused, before any lookup.
        over = await refresh(client, token)

        assert_problem(over, 429, "rate_limited")
        assert int(over.headers["retry-after"]) >= 1
        # Nothing rotated: the session is untouched and its access token works.
        await assert_alive(client, grant)
