"""POST /auth/refresh: rotation, theft detection, the grace window, lifetimes and races."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections import Counter
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.support.api import MakeSettings, assert_problem, bearer, register, run_concurrently

Client = AsyncTestClient[Litestar]


async def refresh(client: Client, token: str, **kwargs: Any) -> Any:
    return await client.post("/auth/refresh", json={"refresh_token": token}, **kwargs)


async def assert_session_dead(client: Client, *grants: dict[str, Any]) -> None:
    for grant in grants:
        assert_problem(await client.get("/auth/me", headers=bearer(grant)), 401, "token_revoked")
        assert_problem(await refresh(client, grant["refresh_token"]), 401, "invalid_refresh_token")


async def test_rotation_returns_a_new_refresh_token_for_the_same_session(client: Client) -> None:
    first = await register(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    second = response.json()
    assert set(second) == set(first) - {"device_token"}  # v1.1: refresh does not return one
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == 900
    assert 604_799 <= second["refresh_expires_in"] <= 604_800
    assert second["session_id"] == first["session_id"]
    assert second["user"] == first["user"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    me = await client.get("/auth/me", headers=bearer(second))
    assert me.status_code == 200
    assert me.json()["session"]["id"] == first["session_id"]
    third = (await refresh(client, second["refresh_token"])).json()
    assert third["session_id"] == first["session_id"]
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3


async def test_refresh_ignores_other_credentials(client: Client) -> None:
    first = await register(client)
    garbage = {"Authorization": "Bearer garbage", "X-API-Key": "mez_garbage"}
    response = await refresh(client, first["refresh_token"], headers=garbage)
    assert response.status_code == 200, response.text


async def test_reuse_with_no_grace_revokes_the_whole_session(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(refresh_reuse_grace=0))) as client:
        first = await register(client)
        other_session = (
            await client.post(
                "/auth/login", json={"email": first["user"]["email"], "password": "Correct-Horse-Battery-9"}
            )
        ).json()
        second = (await refresh(client, first["refresh_token"])).json()
        assert (await client.get("/auth/me", headers=bearer(second))).status_code == 200
        response = await refresh(client, first["refresh_token"])
        assert_problem(response, 401, "refresh_token_reused")
        assert response.headers.get("www-authenticate")
        await assert_session_dead(client, second)
        # The token rotated away is reuse whenever it comes back (API.md, Refresh tokens); its
        # access token is dead with the session.
        assert_problem(await client.get("/auth/me", headers=bearer(first)), 401, "token_revoked")
        assert_problem(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
        # Only that session: the user's other session lives on.
        assert (await client.get("/auth/me", headers=bearer(other_session))).status_code == 200
        assert (await refresh(client, other_session["refresh_token"])).status_code == 200


async def test_retry_within_grace_gets_the_same_successor(client: Client) -> None:
    first = await register(client)
    second = (await refresh(client, first["refresh_token"])).json()
    for _ in range(3):
        retry = await refresh(client, first["refresh_token"])
        assert retry.status_code == 200, retry.text
        body = retry.json()
        assert body["refresh_token"] == second["refresh_token"]
        assert body["session_id"] == first["session_id"]
        assert (await client.get("/auth/me", headers=bearer(body))).status_code == 200
    # The session is alive and rotates on normally.
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200, third.text
    # Now the first token is two rotations old: theft.
    assert_problem(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
    await assert_session_dead(client, third.json())


async def test_reuse_after_the_grace_period_is_theft(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(refresh_reuse_grace=1))) as client:
        first = await register(client)
        second = (await refresh(client, first["refresh_token"])).json()
        await asyncio.sleep(2.1)
        assert_problem(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
        await assert_session_dead(client, second)


def forged_refresh_token(user_id: str, session_id: str) -> str:
    raw = uuid.UUID(user_id).bytes + uuid.UUID(session_id).bytes + secrets.token_bytes(32)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_malformed_or_unknown_refresh_tokens(client: Client) -> None:
    grant = await register(client)
    token = grant["refresh_token"]
    malformed = {
        "empty": "",
        "short": "abc",
        "garbage": "!" * len(token),
        "padded": token + "==",
        "unicode": token[:-1] + "é",
        "huge": "A" * 10_000,
        "truncated": token[:-1],
        "extended": token + "A",
        "access": grant["access_token"],
    }
    for kind, presented in malformed.items():
        response = await refresh(client, presented)
        assert response.status_code == 401, kind
        assert_problem(response, 401, "invalid_refresh_token")
    # None of these hurt the real session.
    assert (await refresh(client, token)).status_code == 200


async def test_unknown_well_formed_tokens(client: Client) -> None:
    grant = await register(client)
    for token in (
        forged_refresh_token(grant["user"]["id"], grant["session_id"]),  # right session, wrong secret
        forged_refresh_token(grant["user"]["id"], str(uuid.uuid4())),
        forged_refresh_token(str(uuid.uuid4()), grant["session_id"]),
    ):
        assert_problem(await refresh(client, token), 401, "invalid_refresh_token")
    # A guessed token is not a reuse: the session is unharmed.
    assert (await refresh(client, grant["refresh_token"])).status_code == 200


async def test_session_absolute_lifetime(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(session_max_age=2))) as client:
        first = await register(client)
        assert 0 <= first["refresh_expires_in"] <= 2
        second = await refresh(client, first["refresh_token"])
        assert second.status_code == 200, second.text
        assert 0 <= second.json()["refresh_expires_in"] <= 2
        await asyncio.sleep(2.2)
        assert_problem(await refresh(client, second.json()["refresh_token"]), 401, "invalid_refresh_token")


async def test_refresh_expires_in_never_exceeds_the_session_lifetime(make_settings: MakeSettings) -> None:
    settings = make_settings(session_max_age=100, refresh_token_ttl=60)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        first = await register(client)
        assert 59 <= first["refresh_expires_in"] <= 60
        me = (await client.get("/auth/me", headers=bearer(first))).json()
        assert me["session"]["refresh_expires_at"]
    settings = make_settings(session_max_age=30, refresh_token_ttl=60)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        first = await register(client)
        assert 29 <= first["refresh_expires_in"] <= 30
        await asyncio.sleep(1.1)
        second = (await refresh(client, first["refresh_token"])).json()
        assert second["refresh_expires_in"] <= 29
        sessions = (await client.get("/auth/sessions", headers=bearer(second))).json()
        assert len(sessions) == 1


async def test_concurrent_refreshes_without_grace_exactly_one_wins(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(refresh_reuse_grace=0))) as client:
        grant = await register(client)
        calls = [("POST", "/auth/refresh", {"json": {"refresh_token": grant["refresh_token"]}})] * 30
        responses = await run_concurrently(client, calls)
        statuses = Counter(r.status_code for r in responses)
        assert statuses[200] == 1, statuses
        assert statuses[401] == 29, statuses
        # Every loser presented a token that was rotated away (API.md, Refresh tokens): reuse, each one,
        # also after the first of them ended the session.
        codes = Counter(r.json()["code"] for r in responses if r.status_code == 401)
        assert codes == {"refresh_token_reused": 29}, codes
        # The reuse was treated as theft: the winner's tokens are dead too.
        winner = next(r for r in responses if r.status_code == 200).json()
        await assert_session_dead(client, winner)


async def test_concurrent_refreshes_within_grace_share_one_successor(client: Client) -> None:
    grant = await register(client)
    calls = [("POST", "/auth/refresh", {"json": {"refresh_token": grant["refresh_token"]}})] * 30
    responses = await run_concurrently(client, calls)
    assert Counter(r.status_code for r in responses) == {200: 30}, [r.text for r in responses if r.status_code != 200]
    bodies = [r.json() for r in responses]
    assert len({b["refresh_token"] for b in bodies}) == 1
    assert {b["session_id"] for b in bodies} == {grant["session_id"]}
    for body in bodies[:5]:
        assert (await client.get("/auth/me", headers=bearer(body))).status_code == 200
    following = await refresh(client, bodies[0]["refresh_token"])
    assert following.status_code == 200, following.text
    sessions = (await client.get("/auth/sessions", headers=bearer(following.json()))).json()
    assert [s["id"] for s in sessions] == [grant["session_id"]]


async def test_refresh_racing_logout_leaves_nothing_alive(client: Client) -> None:
    for _ in range(3):
        grant = await register(client)
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/auth/refresh", {"json": {"refresh_token": grant["refresh_token"]}}) for _ in range(10)
        ]
        calls.insert(5, ("POST", "/auth/logout", {"headers": bearer(grant)}))
        responses = await run_concurrently(client, calls)
        assert responses[5].status_code == 204, responses[5].text
        for response in responses:
            assert response.status_code in (200, 204, 401), response.text
        grants = [grant] + [r.json() for r in responses if r.status_code == 200]
        for issued in grants:
            assert_problem(await client.get("/auth/me", headers=bearer(issued)), 401, "token_revoked")
            assert (await refresh(client, issued["refresh_token"])).status_code == 401


async def test_me_keeps_one_answer_per_session_however_often_it_rotates(client: Client) -> None:
    """`/auth/me` keeps the answer it built for a session's principal; every rotation (or a re-read
    of the session when the fence lapsed) makes a new principal, which must replace its
    session's answer, not add one: the table holds the sessions in use (a soak's memory stays flat)."""
    from musicez.entrypoints.http.routes import auth

    grant = await register(client)
    other = await register(client)
    auth._answers.clear()  # noqa: SLF001 - the table this test is about
    for _ in range(30):
        grant = (await refresh(client, grant["refresh_token"])).json()
        for tokens in (grant, other, grant):
            me = await client.get("/auth/me", headers=bearer(tokens))
            assert me.status_code == 200, me.text
            assert me.json()["session"]["id"] == tokens["session_id"]
            assert me.json()["session"]["access_token_expires_at"]
    assert len(auth._answers) == 2  # noqa: SLF001
