"""Helpers for the tests that drive the real app through Litestar's test client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from dishka import AsyncContainer
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.settings import Settings
from tests.support.accounts import STRONG_PASSWORD, unique_email

MakeSettings = Callable[..., Settings]
T = TypeVar("T")


async def register(
    client: AsyncTestClient[Litestar], email: str | None = None, password: str = STRONG_PASSWORD
) -> dict[str, Any]:
    response = await client.post("/auth/register", json={"email": email or unique_email(), "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# -- helpers for the API contract tests (tests/integration/test_api_*.py) -------------------

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with the stable `code` of API.md."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    for field in ("type", "title", "detail"):
        assert isinstance(body.get(field), str), body
        assert body[field], body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert response.headers.get("x-request-id"), response.headers
    return body


async def run_concurrently(
    client: AsyncTestClient[Litestar], calls: list[tuple[str, str, dict[str, Any]]]
) -> list[Any]:
    """Send every call at once with asyncio.gather on the app's own event loop.

    The AsyncTestClient hands each request to a portal thread and blocks until it is done,
    so gathering its calls would run them one after another; this drives the started app
    through an in-loop ASGI transport instead, so the requests really race.
    """

    async def gather() -> list[Any]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as inner:
            return list(await asyncio.gather(*(inner.request(method, url, **kwargs) for method, url, kwargs in calls)))

    return await asyncio.to_thread(client.blocking_portal.call, gather)


async def create_api_key(
    client: AsyncTestClient[Litestar], name: str = "partner", rate_limit: Any = None, expires_in: Any = None
) -> Any:
    """An API key made through the CreateApiKey use case, on the loop the started app runs on
    (its database pool is bound to that loop)."""
    return await on_app_loop(client, lambda container: _create_key(container, name, rate_limit, expires_in))


async def _create_key(container: Any, name: str, rate_limit: Any, expires_in: Any) -> Any:
    from musicez.application.api_keys import CreateApiKey

    use_case = await container.get(CreateApiKey)
    return await use_case.execute(name, rate_limit=rate_limit, expires_in=expires_in)


async def on_app_loop(client: AsyncTestClient[Litestar], use: Callable[[AsyncContainer], Awaitable[T]]) -> T:
    """Await `use(request_container)` on the started app's own event loop."""

    async def run() -> T:
        async with client.app.state.musicez.container() as container:
            return await use(container)

    return await asyncio.to_thread(client.blocking_portal.call, run)
