"""Protecting other services (API.md v1.1): forward-auth `GET /auth/verify` and RFC 7662
`POST /auth/introspect`, in process on Postgres and Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.http.routes.resource_servers import forwarded_path
from tests.integration.test_api_admin import scoped_key
from tests.integration.test_api_login import behind_proxy
from tests.integration.test_ops_logs import server_log
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


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_verify_logs_the_forwarded_path_never_its_query(make_settings: MakeSettings, log_format: str) -> None:
    """X-Forwarded-Uri from a trusted proxy is only logged (API.md), and a log never holds a
    query string (README): a token in the original request's query stays out of it."""
    app = create_app(settings=make_settings(trusted_proxies="127.0.0.1", log_format=log_format))
    behind_proxy(app, "127.0.0.1")
    with server_log() as stream:
        async with AsyncTestClient(app) as client:
            key = await scoped_key(client, "api")
            forwarded = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/recs?access_token=SECRETVALUE123#SECRET2"}
            ok = await client.get("/auth/verify", headers={**key, **forwarded})
            assert ok.status_code == 200, ok.text
            escape = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/top\x1b[2J?page=SECRET3"}
            assert (await client.get("/auth/verify", headers={**key, **escape})).status_code == 200
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if "verify for" in line]
    assert len(lines) == 2, text
    for secret in ("SECRETVALUE123", "SECRET2", "SECRET3", "access_token"):
        assert secret not in text, secret
    assert not [line for line in lines if "?" in line or "\x1b" in line], lines
    if log_format == "json":
        assert [json.loads(line)["event"] for line in lines] == ["verify for GET /recs", "verify for GET /top\\x1b[2J"]
    else:
        assert "verify for GET /recs " in lines[0]
        assert "verify for GET /top\\x1b[2J " in lines[1]  # the ESC as its escape, not a terminal command


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_verify_logs_refusals_with_their_status_and_code(make_settings: MakeSettings, log_format: str) -> None:
    """docs/RESOURCE_SERVERS.md: the forwarded method and path are logged from a trusted proxy,
    refused or not (a refusal with its status and code), never a credential or a query."""
    app = create_app(settings=make_settings(trusted_proxies="127.0.0.1", log_format=log_format, rate_limit="2/minute"))
    behind_proxy(app, "127.0.0.1")
    with server_log() as stream:
        async with AsyncTestClient(app) as client:
            user = await register(client)
            token = user["access_token"]

            async def verify(path: str, headers: dict[str, str]) -> Any:
                uri = f"{path}?access_token=QUERYSECRET{path[1:]}"
                return await client.get(
                    "/auth/verify", headers={**headers, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": uri}
                )

            assert_problem(await verify("/missing", {}), 401, "missing_credentials")
            assert_problem(await verify("/invalid", {"Authorization": "Bearer nonsense-token"}), 401, "invalid_token")
            assert_problem(await verify("/nokey", {"X-API-Key": "mez_made_up_key"}), 401, "invalid_api_key")
            assert (await verify("/ok", bearer(user))).status_code == 200
            assert_problem(await verify("/escape\x1b", {}), 401, "missing_credentials")
            assert (await verify("/ok", bearer(user))).status_code == 200
            assert_problem(await verify("/limited", bearer(user)), 429, "rate_limited")
            other = await register(client)  # a principal of its own: under its limit
            assert (await client.post("/auth/logout", headers=bearer(other))).status_code == 204
            assert_problem(await verify("/revoked", bearer(other)), 401, "token_revoked")
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if "verify for" in line]
    events = [json.loads(line)["event"] for line in lines] if log_format == "json" else lines
    expected = [
        "verify for GET /missing refused: 401 missing_credentials",
        "verify for GET /invalid refused: 401 invalid_token",
        "verify for GET /nokey refused: 401 invalid_api_key",
        "verify for GET /ok",
        "verify for GET /escape\\x1b refused: 401 missing_credentials",
        "verify for GET /ok",
        "verify for GET /limited refused: 429 rate_limited",
        "verify for GET /revoked refused: 401 token_revoked",
    ]
    assert len(events) == len(expected), text
    for event, wanted in zip(events, expected, strict=True):
        assert event == wanted if log_format == "json" else f"{wanted} " in event, (event, wanted)
    for secret in (
        token,
        token.rsplit(".", 1)[1],
        other["access_token"],
        "nonsense-token",
        "mez_made_up_key",
        "QUERYSECRET",
        "access_token",
    ):
        assert secret not in text, secret


def test_a_forwarded_path_is_bounded_and_one_harmless_line() -> None:
    assert forwarded_path("/recs?access_token=x") == "/recs"
    assert forwarded_path("/a#b?c") == "/a"
    assert forwarded_path("https://recs.example/top?key=x") == "https://recs.example/top"
    assert forwarded_path("?access_token=x") == "-"
    assert forwarded_path("/x\n2026-12-06 [info] forged line") == "/x\\n2026-12-06 [info] forged line"
    assert forwarded_path("/\u2028\u202e\x00") == "/\\u2028\\u202e\\x00"
    assert forwarded_path("/" + "a" * 5000) == "/" + "a" * 255


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
