"""The guarded hot path makes no per-request dependency scope (issue 12): `/health/live`, `/auth/me`
and `/auth/verify` take what they need from the app container, so no request enters dishka's
request scope; a route that needs one (login: a database unit of work) enters it exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from dishka import AsyncContainer
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD
from tests.support.api import bearer, create_api_key, register


@pytest.fixture
def entered(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every request scope opened from the app container, as it is opened."""
    scopes: list[Any] = []
    make_child = AsyncContainer.__call__

    def counting(self: AsyncContainer, *args: Any, **kwargs: Any) -> Any:
        scopes.append(kwargs.get("scope"))
        return make_child(self, *args, **kwargs)

    monkeypatch.setattr(AsyncContainer, "__call__", counting)
    return scopes


async def test_the_hot_routes_never_enter_a_request_scope(
    client: AsyncTestClient[Litestar], entered: list[Any]
) -> None:
    email = "hot-path@example.com"
    tokens = await register(client, email)
    key = await create_api_key(client, "hot-path")
    entered.clear()

    for _ in range(3):
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200
        assert (await client.get("/auth/me", headers={"X-API-Key": key.secret})).status_code == 200
        assert (await client.get("/auth/verify", headers=bearer(tokens))).status_code == 200
    assert entered == []

    # The control: a route whose use case needs a request-scoped dependency enters one per request.
    login = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    assert len(entered) == 1
