"""Rate limits per principal and per client, and state shared by every server process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_login import behind_proxy
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, register

Client = AsyncTestClient[Litestar]


async def test_default_limit_per_user(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(rate_limit="3/minute"))) as client:
        grant = await register(client)
        other = await register(client)
        remaining = []
        for path in ("/auth/me", "/auth/sessions", "/health"):
            response = await client.get(path, headers=bearer(grant))
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "3"
            remaining.append(response.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]  # one counter per principal, across routes
        response = await client.get("/auth/me", headers=bearer(grant))
        assert_problem(response, 429, "rate_limited")
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert response.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        # per principal: someone else is not affected
        assert (await client.get("/auth/me", headers=bearer(other))).status_code == 200


async def test_a_users_sessions_share_one_limit(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(rate_limit="2/minute"))) as client:
        email = unique_email()
        first = await register(client, email)
        second = (await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})).json()
        assert (await client.get("/auth/me", headers=bearer(first))).status_code == 200
        assert (await client.get("/auth/me", headers=bearer(second))).status_code == 200
        assert_problem(await client.get("/auth/me", headers=bearer(first)), 429, "rate_limited")


async def test_register_is_limited_per_client(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(register_rate_limit="2/minute"))) as client:
        for _ in range(2):
            response = await client.post("/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})
            assert response.status_code == 201
            assert response.headers["ratelimit-limit"] == "2"
        response = await client.post("/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1


async def test_login_is_limited_per_client_address(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(login_client_rate_limit="3/minute"))) as client:
        email = unique_email()
        await register(client, email)
        for _ in range(3):
            response = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            assert response.status_code == 200
        response = await client.post("/auth/login", json={"email": unique_email(), "password": STRONG_PASSWORD})
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1


async def test_limits_and_sessions_hold_across_processes(make_settings: MakeSettings) -> None:
    """Two apps on the same Postgres and Redis behave as one service."""
    settings = make_settings(login_rate_limit="3/minute", rate_limit="4/minute")
    async with (
        AsyncTestClient(create_app(settings=settings)) as one,
        AsyncTestClient(create_app(settings=settings)) as two,
    ):
        email = unique_email()
        grant = await register(one, email)
        # a token from one process works on the other
        assert (await two.get("/auth/me", headers=bearer(grant))).status_code == 200
        # the per-principal counter is shared
        assert (await one.get("/auth/me", headers=bearer(grant))).status_code == 200
        assert (await two.get("/auth/me", headers=bearer(grant))).status_code == 200
        assert (await one.get("/auth/me", headers=bearer(grant))).status_code == 200
        assert_problem(await two.get("/auth/me", headers=bearer(grant)), 429, "rate_limited")
        # failed logins are counted together
        for client in (one, two, one):
            response = await client.post("/auth/login", json={"email": email, "password": "Wrong-Password-123"})
            assert_problem(response, 401, "invalid_credentials")
        assert_problem(
            await two.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}), 429, "rate_limited"
        )
        # logout on one process is immediate on the other
        fresh = await register(two)
        assert (await one.get("/auth/sessions", headers=bearer(fresh))).status_code == 200
        assert (await two.post("/auth/logout", headers=bearer(fresh))).status_code == 204
        assert_problem(await one.get("/auth/me", headers=bearer(fresh)), 401, "token_revoked")
        # a rotation on one process is seen by the other
        other = await register(one)
        rotated = (await one.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).json()
        retried = await two.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert retried.status_code == 200
        assert retried.json()["refresh_token"] == rotated["refresh_token"]


async def test_the_per_principal_limit_is_a_leased_quota(make_settings: MakeSettings, redis_url: str) -> None:
    """Far from the limit the guard spends chunks leased from Redis, one call each: ten guarded
    requests, two leases (4 units, then 16: a window starts small) in the principal's own hash
    slot, with the set of processes that leased next to it; the headers stay exact."""
    from redis.asyncio import Redis

    settings = make_settings(rate_limit="1000/minute")
    async with AsyncTestClient(create_app(settings=settings)) as client:
        grant = await register(client)
        remaining = []
        for _ in range(10):
            response = await client.get("/auth/me", headers=bearer(grant))
            assert response.status_code == 200, response.text
            remaining.append(int(response.headers["ratelimit-remaining"]))
        assert remaining == list(range(999, 989, -1))
        redis = Redis.from_url(redis_url)
        try:
            lease = f"{settings.redis_prefix}:lease:{{principal:user:{grant['user']['id']}}}:1000/60"
            assert int(await redis.get(lease) or 0) == 4 + 16
            assert 0 < await redis.pttl(lease) <= 60_000
            assert await redis.scard(lease + ":p") == 1
        finally:
            await redis.aclose()


# -- one client, however its address is spelled ------------------------------------------------

SPELLINGS = {
    "ports": [f"203.0.113.7:{port}" for port in range(1000, 1005)],
    "ipv6": ["2001:db8::9", "2001:DB8::9", "2001:db8:0::9", "2001:0db8::9", "[2001:db8:0:0:0:0:0:9]:443"],
    "mapped": ["203.0.113.10", "::ffff:203.0.113.10", "::ffff:cb00:710a", "[::FFFF:203.0.113.10]:80", "203.0.113.10"],
}


@pytest.mark.parametrize("spellings", SPELLINGS.values(), ids=SPELLINGS.keys())
async def test_a_client_is_one_budget_however_its_address_is_spelled(
    make_settings: MakeSettings, spellings: list[str]
) -> None:
    """The per-client limits count the canonical address: a port, the case or compression of an
    IPv6 address, or an IPv4-mapped spelling is no fresh budget."""
    app = create_app(settings=make_settings(forgot_rate_limit="3/minute", trusted_proxies="127.0.0.1"))
    behind_proxy(app, "127.0.0.1")
    async with AsyncTestClient(app) as client:
        statuses = [
            (
                await client.post(
                    "/auth/password/forgot", json={"email": unique_email()}, headers={"X-Forwarded-For": spelling}
                )
            ).status_code
            for spelling in spellings
        ]
        assert statuses == [202, 202, 202, 429, 429]
        # another client still has its budget
        other = await client.post(
            "/auth/password/forgot", json={"email": unique_email()}, headers={"X-Forwarded-For": "198.51.100.1"}
        )
        assert other.status_code == 202


@pytest.mark.parametrize("prefix", [None, 64])
async def test_an_ipv6_client_is_one_budget_per_network_when_configured(
    make_settings: MakeSettings, prefix: int | None
) -> None:
    """MUSICEZ_IPV6_CLIENT_PREFIX=64: a client rotating through the addresses of its /64 gets no
    fresh budget, and another /64 still has its own. Unset (128), each address is a client (API.md)."""
    extra = {} if prefix is None else {"ipv6_client_prefix": prefix}
    app = create_app(settings=make_settings(forgot_rate_limit="3/minute", trusted_proxies="127.0.0.1", **extra))
    behind_proxy(app, "127.0.0.1")
    async with AsyncTestClient(app) as client:

        async def forgot(address: str) -> int:
            response = await client.post(
                "/auth/password/forgot", json={"email": unique_email()}, headers={"X-Forwarded-For": address}
            )
            return response.status_code

        rotated = [await forgot(f"2001:db8:1:2:{n:x}::{n + 1:x}") for n in range(5)]
        assert rotated == ([202, 202, 202, 429, 429] if prefix == 64 else [202] * 5)
        assert await forgot("2001:db8:1:3::1") == 202  # the next /64
        assert await forgot("198.51.100.7") == 202


async def test_a_hop_that_is_no_address_counts_as_the_proxy_that_wrote_it(make_settings: MakeSettings) -> None:
    """Garbage in X-Forwarded-For is no budget of its own: it is counted as the nearest trusted
    hop, whatever the client put before it."""
    app = create_app(settings=make_settings(forgot_rate_limit="3/minute", trusted_proxies="127.0.0.1"))
    behind_proxy(app, "127.0.0.1")
    async with AsyncTestClient(app) as client:
        statuses = []
        for n, garbage in enumerate(["garbage", "unknown", "_hidden", "203.0.113.7:99999", "[2001:db8::9"]):
            headers = {"X-Forwarded-For": f"198.51.100.{n}, {garbage}"}
            response = await client.post("/auth/password/forgot", json={"email": unique_email()}, headers=headers)
            statuses.append(response.status_code)
        assert statuses == [202, 202, 202, 429, 429]
        # the proxy's own requests share that budget: the garbage was counted as 127.0.0.1
        response = await client.post("/auth/password/forgot", json={"email": unique_email()})
        assert_problem(response, 429, "rate_limited")


async def test_an_ipv4_mapped_peer_is_its_ipv4_address(make_settings: MakeSettings) -> None:
    """Without a proxy, a dual-stack socket reports an IPv4 client as `::ffff:a.b.c.d`: the same
    client as when it arrives on an IPv4 socket (two processes, one budget)."""
    settings = make_settings(forgot_rate_limit="3/minute")
    mapped, plain = create_app(settings=settings), create_app(settings=settings)
    behind_proxy(mapped, "::ffff:203.0.113.9")
    behind_proxy(plain, "203.0.113.9")
    async with AsyncTestClient(mapped) as one, AsyncTestClient(plain) as two:
        statuses = [
            (await client.post("/auth/password/forgot", json={"email": unique_email()})).status_code
            for client in (one, two, one, two)
        ]
        assert statuses == [202, 202, 202, 429]


# Requests the framework refuses before the route's use case runs: a field of the wrong type, a
# body that is no JSON, a body of another media type, a body over the size limit.
REFUSED_EARLY: list[tuple[dict[str, Any], int]] = [
    ({"json": {"email": 5, "password": "x"}}, 400),
    ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400),
    ({"content": b"email=a", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
    ({"content": b'{"email": "' + b"a" * 20_000 + b'"}', "headers": {"Content-Type": "application/json"}}, 413),
]


@pytest.mark.parametrize(
    ("path", "setting", "valid", "ok"),
    [
        ("/auth/register", "register_rate_limit", lambda: {"email": unique_email(), "password": STRONG_PASSWORD}, 201),
        ("/auth/login", "login_client_rate_limit", lambda: {"email": unique_email(), "password": STRONG_PASSWORD}, 401),
        ("/auth/password/forgot", "forgot_rate_limit", lambda: {"email": unique_email()}, 202),
    ],
)
async def test_a_request_refused_before_its_use_case_is_counted_and_says_so(
    make_settings: MakeSettings, path: str, setting: str, valid: Callable[[], dict[str, str]], ok: int
) -> None:
    """API.md: "Responses of limited routes carry RateLimit-*". A malformed request to a route
    limited per client address counts against that limit like any other (no free way past it), and
    its response says where the client stands; a request its use case counted counts once."""
    amount = len(REFUSED_EARLY) + 2
    async with AsyncTestClient(create_app(settings=make_settings(**{setting: f"{amount}/minute"}))) as client:
        left = amount
        for kwargs, status in REFUSED_EARLY:
            response = await client.post(path, **kwargs)
            assert response.status_code == status, response.text
            left -= 1
            assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == (
                str(amount),
                str(left),
            )
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        for _ in range(2):  # counted by the use case, once each
            response = await client.post(path, json=valid())
            assert response.status_code == ok, response.text
            left -= 1
            assert response.headers["ratelimit-remaining"] == str(left)
        refused = await client.post(path, json={"email": 5})
        assert refused.status_code == 400
        assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == (str(amount), "0")
        assert_problem(await client.post(path, json=valid()), 429, "rate_limited")
