"""A credential header sent more than once is refused on routes that take credentials
(API.md, Hardening rules v1.1); public routes go on ignoring credentials."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.api import assert_problem, create_api_key, register, run_concurrently

Client = AsyncTestClient[Litestar]


async def get(client: Client, path: str, headers: list[tuple[str, str]]) -> Any:
    """Through httpx's ASGI transport: Litestar's test client would join repeated headers into one."""
    (response,) = await run_concurrently(client, [("GET", path, {"headers": headers})])
    return response


async def _key(client: Client) -> str:
    created: Any = await create_api_key(client)
    return str(created.secret)


@pytest.mark.parametrize("second_valid", [True, False])
async def test_a_repeated_authorization_header_is_invalid_token(client: Client, second_valid: bool) -> None:
    tokens = await register(client)
    good = f"Bearer {tokens['access_token']}"
    other = good if second_valid else "Bearer not-a-token"
    for path in ("/auth/me", "/auth/sessions"):
        response = await get(client, path, [("Authorization", good), ("Authorization", other)])
        body = assert_problem(response, 401, "invalid_token")
        assert "repeated" in body["detail"]
        assert response.headers["www-authenticate"].startswith('Bearer realm="musicez", error="invalid_token"')
    # once, the same token works
    assert (await client.get("/auth/me", headers={"Authorization": good})).status_code == 200


async def test_a_repeated_api_key_header_is_invalid_api_key(client: Client) -> None:
    key = await _key(client)
    response = await get(client, "/auth/me", [("X-API-Key", key), ("X-API-Key", key)])
    body = assert_problem(response, 401, "invalid_api_key")
    assert "repeated" in body["detail"]
    assert key not in response.text
    assert (await client.get("/auth/me", headers={"X-API-Key": key})).status_code == 200


async def test_both_repeated_answers_the_tokens_code(client: Client) -> None:
    tokens = await register(client)
    key = await _key(client)
    good = f"Bearer {tokens['access_token']}"
    headers = [("Authorization", good), ("Authorization", good), ("X-API-Key", key), ("X-API-Key", key)]
    assert_problem(await get(client, "/auth/me", headers), 401, "invalid_token")
    # a repeated API key next to one valid token is still refused
    headers = [("Authorization", good), ("X-API-Key", key), ("X-API-Key", key)]
    assert_problem(await get(client, "/auth/me", headers), 401, "invalid_api_key")


async def test_public_routes_ignore_repeated_credentials(client: Client) -> None:
    headers = [("Authorization", "Bearer a"), ("Authorization", "Bearer b"), ("X-API-Key", "x"), ("X-API-Key", "y")]
    assert (await get(client, "/health/live", headers)).status_code == 200
    login = {"email": "nobody@example.com", "password": "Wrong-password-1"}
    (response,) = await run_concurrently(client, [("POST", "/auth/login", {"json": login, "headers": headers})])
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize("path", ["/health", "/metrics"])
async def test_routes_that_check_their_own_credentials_refuse_repeated_ones_too(client: Client, path: str) -> None:
    """/health takes credentials without the guard (so it can answer while Redis is down), and
    /metrics takes the scrape token too: a repeated header is refused there as everywhere else."""
    key = await _key(client)
    tokens = await register(client)
    good = f"Bearer {tokens['access_token']}"
    response = await get(client, path, [("X-API-Key", key), ("X-API-Key", key)])
    body = assert_problem(response, 401, "invalid_api_key")
    assert "repeated" in body["detail"]
    response = await get(client, path, [("Authorization", good), ("Authorization", good), ("X-API-Key", key)])
    body = assert_problem(response, 401, "invalid_token")
    assert "repeated" in body["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer realm="musicez", error="invalid_token"')
    # once, the key works
    assert (await get(client, path, [("X-API-Key", key)])).status_code == 200


BODY_ROUTES = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/password/forgot", "/auth/password/reset"]


async def test_a_repeated_content_type_is_415_whatever_the_order(client: Client) -> None:
    """Which copy of a repeated Content-Type counts would depend on who reads it (a proxy, a
    framework): like a repeated credential header, it is refused, whichever copy comes first."""
    body = b'{"email": "a@example.com", "password": "x", "refresh_token": "x", "token": "x", "new_password": "x"}'
    pairs = [("application/json", "text/plain"), ("text/plain", "application/json")]
    pairs.append(("application/json", "application/json"))
    calls = [
        ("POST", path, {"content": body, "headers": [("Content-Type", first), ("Content-Type", second)]})
        for path in BODY_ROUTES
        for first, second in pairs
    ]
    for response in await run_concurrently(client, calls):
        assert_problem(response, 415, "unsupported_media_type")
