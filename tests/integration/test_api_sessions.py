"""The logout family, GET/DELETE /auth/sessions and GET /auth/me for users."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import assert_problem, bearer, register

Client = AsyncTestClient[Litestar]
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
RFC6750_INVALID = re.compile(r'^Bearer realm="musicez", error="invalid_token", error_description="[^"\\]*"$')


def parse_time(text: str) -> datetime:
    assert RFC3339_Z.match(text), text
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


async def login(client: Client, email: str, device_name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": STRONG_PASSWORD}
    if device_name:
        body["device_name"] = device_name
    response = await client.post("/auth/login", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def assert_dead(client: Client, grant: dict[str, Any]) -> None:
    response = await client.get("/auth/me", headers=bearer(grant))
    assert_problem(response, 401, "token_revoked")
    assert RFC6750_INVALID.match(response.headers["www-authenticate"])
    response = await client.post("/auth/refresh", json={"refresh_token": grant["refresh_token"]})
    assert_problem(response, 401, "invalid_refresh_token")


async def assert_alive(client: Client, grant: dict[str, Any]) -> None:
    assert (await client.get("/auth/me", headers=bearer(grant))).status_code == 200


async def test_logout_ends_this_session_at_once(client: Client) -> None:
    email = unique_email()
    first = await register(client, email)
    other = await login(client, email)
    response = await client.post("/auth/logout", headers=bearer(first))
    assert response.status_code == 204
    assert response.content == b""
    await assert_dead(client, first)
    await assert_alive(client, other)
    assert_problem(await client.post("/auth/logout", headers=bearer(first)), 401, "token_revoked")


async def test_logout_all_ends_every_session(client: Client) -> None:
    email = unique_email()
    grants = [await register(client, email), await login(client, email), await login(client, email)]
    stranger = await register(client)
    assert (await client.post("/auth/logout-all", headers=bearer(grants[1]))).status_code == 204
    for grant in grants:
        await assert_dead(client, grant)
    await assert_alive(client, stranger)
    assert (await login(client, email))["session_id"]


async def test_logout_others_keeps_this_one(client: Client) -> None:
    email = unique_email()
    grants = [await register(client, email), await login(client, email), await login(client, email)]
    assert (await client.post("/auth/logout-others", headers=bearer(grants[1]))).status_code == 204
    await assert_dead(client, grants[0])
    await assert_dead(client, grants[2])
    await assert_alive(client, grants[1])
    assert (await client.post("/auth/refresh", json={"refresh_token": grants[1]["refresh_token"]})).status_code == 200
    sessions = (await client.get("/auth/sessions", headers=bearer(grants[1]))).json()
    assert [s["id"] for s in sessions] == [grants[1]["session_id"]]


async def test_list_sessions_shows_only_the_callers_active_sessions(client: Client) -> None:
    email = unique_email()
    first = await register(client, email)
    second = await login(client, email, device_name="Living-room speaker")
    ended = await login(client, email)
    await client.post("/auth/logout", headers=bearer(ended))
    await register(client)  # someone else
    response = await client.get("/auth/sessions", headers=bearer(second))
    assert response.status_code == 200
    sessions = response.json()
    assert isinstance(sessions, list)
    assert {s["id"] for s in sessions} == {first["session_id"], second["session_id"]}
    for session in sessions:
        assert set(session) == {"id", "device_name", "created_at", "last_used_at", "expires_at", "current"}
        uuid.UUID(session["id"])
        assert isinstance(session["device_name"], str)
        assert session["device_name"]
        created, used, expires = (parse_time(session[k]) for k in ("created_at", "last_used_at", "expires_at"))
        assert created <= used < expires
        assert session["current"] is (session["id"] == second["session_id"])
    named = next(s for s in sessions if s["id"] == second["session_id"])
    assert named["device_name"] == "Living-room speaker"
    other_view = (await client.get("/auth/sessions", headers=bearer(first))).json()
    assert [s["id"] for s in other_view if s["current"]] == [first["session_id"]]


async def test_revoke_one_session(client: Client) -> None:
    email = unique_email()
    first = await register(client, email)
    second = await login(client, email)
    third = await login(client, email)
    response = await client.delete(f"/auth/sessions/{second['session_id']}", headers=bearer(first))
    assert response.status_code == 204
    await assert_dead(client, second)
    await assert_alive(client, first)
    await assert_alive(client, third)
    # Again: no longer an active session of the caller.
    again = await client.delete(f"/auth/sessions/{second['session_id']}", headers=bearer(first))
    assert_problem(again, 404, "session_not_found")
    # One's own current session can be revoked too.
    assert (await client.delete(f"/auth/sessions/{first['session_id']}", headers=bearer(first))).status_code == 204
    await assert_dead(client, first)


@pytest.mark.parametrize("target", ["other-user", "random-uuid", "garbage", "upper-case-uuid-of-other"])
async def test_revoke_session_that_is_not_the_callers(client: Client, target: str) -> None:
    mine = await register(client)
    theirs = await register(client)
    session_id = {
        "other-user": theirs["session_id"],
        "random-uuid": str(uuid.uuid4()),
        "garbage": "not-a-session-id",
        "upper-case-uuid-of-other": theirs["session_id"].upper(),
    }[target]
    response = await client.delete(f"/auth/sessions/{session_id}", headers=bearer(mine))
    assert_problem(response, 404, "session_not_found")
    await assert_alive(client, theirs)
    await assert_alive(client, mine)


async def test_me_for_a_user(client: Client) -> None:
    grant = await register(client)
    response = await client.get("/auth/me", headers=bearer(grant))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"kind", "user", "session"}
    assert body["kind"] == "user"
    assert body["user"] == grant["user"]
    assert set(body["session"]) == {"id", "access_token_expires_at", "refresh_expires_at"}
    assert body["session"]["id"] == grant["session_id"]
    claims = jwt.decode(grant["access_token"], options={"verify_signature": False})
    assert parse_time(body["session"]["access_token_expires_at"]) == datetime.fromtimestamp(claims["exp"], UTC)
    refresh_left = (parse_time(body["session"]["refresh_expires_at"]) - datetime.now(UTC)).total_seconds()
    assert abs(refresh_left - grant["refresh_expires_in"]) <= 3


async def test_me_follows_the_session_after_refresh(client: Client) -> None:
    grant = await register(client)
    rotated = (await client.post("/auth/refresh", json={"refresh_token": grant["refresh_token"]})).json()
    body = (await client.get("/auth/me", headers=bearer(rotated))).json()
    assert body["session"]["id"] == grant["session_id"]
    claims = jwt.decode(rotated["access_token"], options={"verify_signature": False})
    assert parse_time(body["session"]["access_token_expires_at"]) == datetime.fromtimestamp(claims["exp"], UTC)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/logout"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/logout-others"),
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions/0193c1d2-0000-7000-8000-000000000000"),
        ("GET", "/auth/me"),
    ],
)
async def test_user_routes_refuse_a_revoked_token(client: Client, method: str, path: str) -> None:
    grant = await register(client)
    await client.post("/auth/logout", headers=bearer(grant))
    response = await client.request(method, path, headers=bearer(grant))
    assert_problem(response, 401, "token_revoked")
    assert RFC6750_INVALID.match(response.headers["www-authenticate"])
