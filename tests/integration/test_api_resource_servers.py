"""Protecting other services (API.md v1.1): forward-auth `GET /auth/verify` and RFC 7662
`POST /auth/introspect`, in process on Postgres and Redis."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_admin import scoped_key
from tests.support.api import MakeSettings, assert_problem, bearer, register

AnyClient = AsyncTestClient[Litestar]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_verify_names_the_principal_in_headers(client: AnyClient) -> None:
    user = await register(client)
    ok = await client.get("/auth/verify", headers=bearer(user))
    assert ok.status_code == 200, ok.text
    assert ok.content == b""
    assert ok.headers["x-auth-kind"] == "user"
    assert ok.headers["x-auth-user-id"] == user["user"]["id"]
    assert ok.headers["x-auth-session-id"] == user["session_id"]
    assert "x-auth-api-key-id" not in ok.headers
    assert "ratelimit-remaining" in ok.headers  # limited per principal like any guarded route

    for scope in ("api", "admin"):
        key = await scoped_key(client, scope)
        as_key = await client.get("/auth/verify", headers=key)
        assert as_key.status_code == 200, as_key.text
        assert as_key.headers["x-auth-kind"] == "api_key"
        assert as_key.headers["x-auth-scope"] == scope
        assert len(as_key.headers["x-auth-api-key-id"]) == 36
        assert "x-auth-user-id" not in as_key.headers


async def test_verify_answers_exactly_what_the_guard_answers(client: AnyClient) -> None:
    user = await register(client)
    missing = assert_problem(await client.get("/auth/verify"), 401, "missing_credentials")
    assert missing
    bad = await client.get("/auth/verify", headers={"Authorization": "Bearer nonsense"})
    assert_problem(bad, 401, "invalid_token")
    assert bad.headers["www-authenticate"].startswith('Bearer realm="musicez", error="invalid_token"')
    assert_problem(await client.get("/auth/verify", headers={"X-API-Key": "mez_nope"}), 401, "invalid_api_key")
    assert (await client.post("/auth/logout", headers=bearer(user))).status_code == 204
    assert_problem(await client.get("/auth/verify", headers=bearer(user)), 401, "token_revoked")
    # X-Forwarded-* from an untrusted peer change nothing
    spoofed = {**bearer(await register(client)), "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/x" * 3000}
    assert (await client.get("/auth/verify", headers=spoofed)).status_code == 200


async def test_verify_is_rate_limited_per_principal(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(rate_limit="3/minute"))) as client:
        user = await register(client)
        statuses = [(await client.get("/auth/verify", headers=bearer(user))).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get("/auth/verify", headers=bearer(user))
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1


async def _introspect(client: AnyClient, token: Any, headers: dict[str, str]) -> Any:
    data = {} if token is None else {"token": token}
    return await client.post("/auth/introspect", data=data, headers=headers)


async def test_introspection_for_an_api_key(client: AnyClient) -> None:
    user = await register(client)
    key = await scoped_key(client, "api")
    live = await _introspect(client, user["access_token"], key)
    assert live.status_code == 200, live.text
    assert live.headers["cache-control"] == "no-store"
    body = live.json()
    assert set(body) == {"active", "token_type", "sub", "sid", "iss", "aud", "iat", "exp", "jti"}
    assert body["active"] is True
    assert body["token_type"] == "access_token"
    assert (body["sub"], body["sid"]) == (user["user"]["id"], user["session_id"])
    assert (body["iss"], body["aud"]) == ("musicez-auth", "musicez-api")
    assert body["exp"] - body["iat"] == 900
    assert isinstance(body["jti"], str)
    assert body["jti"]

    for token in (None, "", "garbage", user["refresh_token"], "x" * 10_000, "é\u0000"):
        inactive = await _introspect(client, token, key)
        assert inactive.status_code == 200, (token, inactive.text)
        assert inactive.json() == {"active": False}
    assert (await client.post("/auth/logout", headers=bearer(user))).status_code == 204
    assert (await _introspect(client, user["access_token"], key)).json() == {"active": False}


async def test_introspection_refuses_callers_without_an_api_key(client: AnyClient) -> None:
    user = await register(client)
    assert_problem(await _introspect(client, user["access_token"], {}), 401, "missing_credentials")
    assert_problem(await _introspect(client, user["access_token"], {"X-API-Key": "mez_x"}), 401, "invalid_api_key")
    as_user = await _introspect(client, user["access_token"], bearer(user))
    assert_problem(as_user, 401, "missing_credentials")
    assert "www-authenticate" in as_user.headers
    key = await scoped_key(client, "api")
    as_json = await client.post("/auth/introspect", json={"token": user["access_token"]}, headers=key)
    body = assert_problem(as_json, 415, "unsupported_media_type")
    # the title names the problem type, the detail what this route takes (not JSON, here)
    assert "application/json" not in body["title"] + body["detail"]
    assert "application/x-www-form-urlencoded" in body["detail"]


async def test_introspection_by_a_valid_api_key_next_to_a_user_token(client: AnyClient) -> None:
    """API.md: 401 only for a missing or invalid API key. A service that sends its own key with a
    user's token (both checked, both valid, the guard's principal then the user) still introspects."""
    user = await register(client)
    key = await scoped_key(client, "api")
    both = await _introspect(client, user["access_token"], {**key, **bearer(user)})
    assert both.status_code == 200, both.text
    assert both.json()["active"] is True
    assert both.json()["sub"] == user["user"]["id"]
    broken = await _introspect(client, user["access_token"], {"X-API-Key": "mez_x", **bearer(user)})
    assert_problem(broken, 401, "invalid_api_key")


async def test_resource_server_routes_are_documented(client: AnyClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "get" in paths["/auth/verify"]
    introspect = paths["/auth/introspect"]["post"]
    assert introspect["security"] == [{"ApiKeyAuth": []}]
    assert "application/x-www-form-urlencoded" in introspect["requestBody"]["content"]
