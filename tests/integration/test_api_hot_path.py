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


async def test_me_replays_its_rendered_answer_with_each_requests_own_headers(client: AsyncTestClient[Litestar]) -> None:
    """`/auth/me` renders a principal's answer once and replays it (issue 12). Each replay carries
    exactly one of each header, this request's own `X-Request-ID` and `RateLimit-Remaining`,
    `no-store`, and the same body; the headers the outer middleware adds never pile up on the
    rendered response. A new access token of the session (a new principal) gets its own answer."""
    tokens = await register(client)
    key = await create_api_key(client, "replay")
    for headers in (bearer(tokens), {"X-API-Key": key.secret}):
        answers = [await client.get("/auth/me", headers=headers) for _ in range(4)]
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.content for answer in answers}) == 1
        for answer in answers:
            names = [name.lower() for name, _ in answer.headers.multi_items()]
            assert sorted(names) == sorted(set(names)), names
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["content-type"] == "application/json"
            assert int(answer.headers["content-length"]) == len(answer.content)
        assert len({answer.headers["x-request-id"] for answer in answers}) == 4
        remaining = [int(answer.headers["ratelimit-remaining"]) for answer in answers]
        assert remaining == sorted(remaining, reverse=True)
        assert len(set(remaining)) == 4

    first = (await client.get("/auth/me", headers=bearer(tokens))).json()
    rotated = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = (await client.get("/auth/me", headers=bearer(rotated.json()))).json()
    assert second["session"]["id"] == first["session"]["id"]
    assert second["session"]["access_token_expires_at"] >= first["session"]["access_token_expires_at"]
    assert second["session"]["refresh_expires_at"] >= first["session"]["refresh_expires_at"]


async def test_me_keeps_at_most_known_answers_rendered(
    client: AsyncTestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table of rendered answers is bounded (emptied when full): an anonymous client cannot
    grow it, and many sessions hold at most `KNOWN_ANSWERS` answers a worker. An answer dropped
    with the table is rendered again, the same, on its session's next request."""
    from musicez.entrypoints.http.routes import auth

    monkeypatch.setattr(auth, "KNOWN_ANSWERS", 3)
    auth._answers.clear()  # noqa: SLF001 - the table this test is about
    sessions = [await register(client) for _ in range(7)]
    first = []
    for tokens in sessions:
        answer = await client.get("/auth/me", headers=bearer(tokens))
        assert answer.status_code == 200, answer.text
        first.append(answer.content)
        assert 1 <= len(auth._answers) <= 3  # noqa: SLF001
    again = [(await client.get("/auth/me", headers=bearer(tokens))).content for tokens in sessions]
    assert again == first
    assert len(auth._answers) <= 3  # noqa: SLF001
