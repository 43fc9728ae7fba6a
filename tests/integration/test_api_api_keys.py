"""X-API-Key: who it is, what it may not do, every broken key, both credentials at once, limits."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from dishka import AsyncContainer
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.adapters.security.keys import KeyRing
from musicez.application.api_keys import RevokeApiKey
from musicez.domain.rate_limit import RateLimit
from tests.support.accounts import STRONG_PASSWORD
from tests.support.api import assert_problem, bearer, create_api_key, on_app_loop, register

Client = AsyncTestClient[Litestar]

USER_ONLY = [
    ("POST", "/auth/logout", None),
    ("POST", "/auth/logout-all", None),
    ("POST", "/auth/logout-others", None),
    ("GET", "/auth/sessions", None),
    ("DELETE", "/auth/sessions/0193c1d2-0000-7000-8000-000000000000", None),
    ("POST", "/auth/password/change", {"current_password": STRONG_PASSWORD, "new_password": "Another-Horse-Battery-8"}),
]


def key_header(created: Any) -> dict[str, str]:
    return {"X-API-Key": created.secret}


async def revoke(client: Client, key_id: Any) -> None:
    async def run(container: Any) -> None:
        await (await container.get(RevokeApiKey)).execute(key_id)

    await on_app_loop(client, run)


async def test_me_with_an_api_key(client: Client) -> None:
    created = await create_api_key(client, "recommendations")
    assert created.secret.startswith("mez_")
    response = await client.get("/auth/me", headers=key_header(created))
    assert response.status_code == 200, response.text
    assert response.json() == {"kind": "api_key", "api_key": {"id": str(created.key.id), "name": "recommendations"}}


async def test_health_with_an_api_key(client: Client) -> None:
    created = await create_api_key(client)
    assert (await client.get("/health", headers=key_header(created))).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), USER_ONLY)
async def test_user_only_routes_refuse_api_keys(client: Client, method: str, path: str, body: Any) -> None:
    created = await create_api_key(client)
    kwargs: dict[str, Any] = {"headers": key_header(created)}
    if body is not None:
        kwargs["json"] = body
    response = await client.request(method, path, **kwargs)
    assert_problem(response, 403, "user_token_required")


async def test_revoked_key_stops_at_once(client: Client) -> None:
    created = await create_api_key(client)
    assert (await client.get("/auth/me", headers=key_header(created))).status_code == 200
    await revoke(client, created.key.id)
    response = await client.get("/auth/me", headers=key_header(created))
    assert_problem(response, 401, "invalid_api_key")
    assert response.headers.get("www-authenticate")


async def test_expired_key_stops(client: Client) -> None:
    created = await create_api_key(client, expires_in=timedelta(seconds=1))
    assert (await client.get("/auth/me", headers=key_header(created))).status_code == 200
    await asyncio.sleep(1.3)
    assert_problem(await client.get("/auth/me", headers=key_header(created)), 401, "invalid_api_key")


async def test_broken_keys_are_invalid(client: Client) -> None:
    created = await create_api_key(client)
    key = created.secret
    broken: dict[str, str | bytes] = {
        "truncated": key[:-1],
        "padded": key + "=",
        "other-prefix": "sk_" + key[4:],
        "no-prefix": key[4:],
        "unicode": (key[:-1] + "é").encode("utf-8"),
        "10kb": key + "A" * 10_240,
        "empty": "",
        "flipped": key[:-1] + ("A" if key[-1] != "A" else "B"),
        "upper": key.upper(),
        "spaces": "  " + key[:-1] + "  ",
    }
    for kind, presented in broken.items():
        raw = presented if isinstance(presented, bytes) else presented.encode("ascii")
        response = await client.get("/auth/me", headers={b"X-API-Key": raw})
        assert response.status_code == 401, kind
        assert_problem(response, 401, "invalid_api_key")
        assert response.headers.get("www-authenticate"), kind
    # the real key is unharmed
    assert (await client.get("/auth/me", headers=key_header(created))).status_code == 200


async def test_both_valid_credentials_make_the_user_the_principal(client: Client) -> None:
    created = await create_api_key(client)
    grant = await register(client)
    response = await client.get("/auth/me", headers={**bearer(grant), **key_header(created)})
    assert response.status_code == 200
    assert response.json()["kind"] == "user"
    assert response.json()["user"]["id"] == grant["user"]["id"]
    # and user-only routes accept it
    assert (await client.get("/auth/sessions", headers={**bearer(grant), **key_header(created)})).status_code == 200


async def expired_token(client: Client, grant: dict[str, Any]) -> str:
    async def keys(container: AsyncContainer) -> KeyRing:
        return await container.get(KeyRing)

    ring = await on_app_loop(client, keys)
    claims = jwt.decode(grant["access_token"], options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 1000, exp=now - 100)
    return jwt.encode(
        claims, ring.signing_key, algorithm=ring.algorithm, headers={"kid": ring.signing_kid, "typ": "at+jwt"}
    )


async def test_an_invalid_credential_is_never_ignored(client: Client) -> None:
    created = await create_api_key(client)
    grant = await register(client)
    revoked_grant = await register(client)
    await client.post("/auth/logout", headers=bearer(revoked_grant))
    good_key, bad_key = key_header(created), {"X-API-Key": created.secret[:-1]}
    good_token, bad_token = bearer(grant), {"Authorization": "Bearer not-a-jwt"}
    expired = {"Authorization": f"Bearer {await expired_token(client, grant)}"}
    cases = [
        ({**good_token, **bad_key}, "invalid_api_key"),
        ({**bad_token, **good_key}, "invalid_token"),
        ({**bad_token, **bad_key}, "invalid_token"),
        ({**bearer(revoked_grant), **good_key}, "token_revoked"),
        ({**bearer(revoked_grant), **bad_key}, "token_revoked"),
        ({**expired, **good_key}, "token_expired"),
        ({**expired, **bad_key}, "token_expired"),
    ]
    for headers, code in cases:
        for path in ("/auth/me", "/health"):
            response = await client.get(path, headers=headers)
            assert_problem(response, 401, code)
            assert response.headers.get("www-authenticate")
            if code != "invalid_api_key":
                assert response.headers["www-authenticate"].startswith('Bearer realm="musicez", error="invalid_token"')


async def test_per_key_rate_limit(client: Client) -> None:
    created = await create_api_key(client, rate_limit=RateLimit(5, "minute"))
    remaining = []
    for _ in range(5):
        response = await client.get("/auth/me", headers=key_header(created))
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert remaining == [4, 3, 2, 1, 0]
    response = await client.get("/auth/me", headers=key_header(created))
    assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-limit"] == "5"
    assert response.headers["ratelimit-remaining"] == "0"
    # another key is counted separately
    other = await create_api_key(client, rate_limit=RateLimit(5, "minute"))
    assert (await client.get("/auth/me", headers=key_header(other))).status_code == 200


async def test_guarded_responses_carry_rate_limit_headers(client: Client) -> None:
    grant = await register(client)
    created = await create_api_key(client)
    for headers in (bearer(grant), key_header(created)):
        for method, path in (("GET", "/auth/me"), ("GET", "/health")):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 200
            limit = int(response.headers["ratelimit-limit"])
            left = int(response.headers["ratelimit-remaining"])
            assert 0 <= left < limit
            assert int(response.headers["ratelimit-reset"]) >= 0
    sessions = await client.get("/auth/sessions", headers=bearer(grant))
    assert sessions.headers["ratelimit-limit"].isdigit()
