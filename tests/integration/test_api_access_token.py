"""The access token: its header and claims, the JWK set, and every way a bad one is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from typing import Any

import jwt
from dishka import AsyncContainer
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.adapters.security.keys import KeyRing
from musicez.entrypoints.http.app import create_app
from tests.support.api import MakeSettings, assert_problem, bearer, on_app_loop, register

Client = AsyncTestClient[Litestar]
RFC6750_INVALID = re.compile(r'^Bearer realm="musicez", error="invalid_token", error_description="[^"\\]*"$')


def assert_rejected(response: Any, code: str) -> None:
    assert_problem(response, 401, code)
    assert RFC6750_INVALID.match(response.headers["www-authenticate"]), response.headers["www-authenticate"]


async def signing_keys(client: Client) -> KeyRing:
    async def get(container: AsyncContainer) -> KeyRing:
        return await container.get(KeyRing)

    return await on_app_loop(client, get)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def test_header_and_claims(client: Client) -> None:
    tokens = await register(client)
    token = tokens["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert isinstance(header.get("kid"), str)
    assert header["kid"]
    assert header["alg"] in ("EdDSA", "ES256")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "sub", "sid", "jti", "iat", "exp"} <= set(claims)
    assert claims["sub"] == tokens["user"]["id"]
    assert claims["sid"] == tokens["session_id"]
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["iss"]
    assert claims["aud"]
    again = await client.post(
        "/auth/login", json={"email": tokens["user"]["email"], "password": "Correct-Horse-Battery-9"}
    )
    assert jwt.decode(again.json()["access_token"], options={"verify_signature": False})["jti"] != claims["jti"]
    # no personal data or secrets beyond what the contract names
    assert tokens["user"]["email"] not in json.dumps(claims)


async def test_token_verifies_against_the_published_jwks(client: Client) -> None:
    tokens = await register(client)
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()
    assert isinstance(jwks["keys"], list)
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert "d" not in key  # public halves only
        assert key.get("kid")
    header = jwt.get_unverified_header(tokens["access_token"])
    matching = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert len(matching) == 1
    public = jwt.PyJWK(matching[0])
    claims = jwt.decode(
        tokens["access_token"],
        public.key,
        algorithms=[header["alg"]],
        audience=jwt.decode(tokens["access_token"], options={"verify_signature": False})["aud"],
        options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
    )
    assert claims["sid"] == tokens["session_id"]


async def test_tampered_tokens_are_invalid(client: Client) -> None:
    tokens = await register(client)
    other = await register(client)
    header, payload, signature = tokens["access_token"].split(".")
    claims = json.loads(unb64(payload))
    forged_sub = b64(json.dumps({**claims, "sub": other["user"]["id"]}).encode())
    forged_exp = b64(json.dumps({**claims, "exp": claims["exp"] + 3600}).encode())
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for token in (
        f"{header}.{forged_sub}.{signature}",
        f"{header}.{forged_exp}.{signature}",
        f"{header}.{payload}.{flipped}",
        f"{header}.{payload}.",
        f"{header}.{payload}",
        tokens["access_token"][:-5],
        tokens["access_token"] + "x",
        f"{other['access_token'].split('.')[0]}.{payload}.{other['access_token'].split('.')[2]}",
    ):
        response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert_rejected(response, "invalid_token")
    # the genuine token still works afterwards
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200


async def test_alg_none_is_refused(client: Client) -> None:
    tokens = await register(client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    for alg in ("none", "None", "NONE"):
        header = b64(
            json.dumps(
                {"alg": alg, "typ": "at+jwt", "kid": jwt.get_unverified_header(tokens["access_token"])["kid"]}
            ).encode()
        )
        token = f"{header}.{b64(json.dumps(claims).encode())}."
        assert_rejected(await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), "invalid_token")


async def test_hs256_signed_with_the_public_key_is_refused(client: Client) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the published key."""
    tokens = await register(client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    jwk = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
    secret = json.dumps(jwk).encode()
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    import hashlib
    import hmac

    signature = b64(hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
    token = f"{header}.{body}.{signature}"
    assert_rejected(await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), "invalid_token")


async def crafted(client: Client, tokens: dict[str, Any], headers: dict[str, Any] | None = None, **changes: Any) -> str:
    """A token signed with the server's real key, with claims or header changed."""
    keys = await signing_keys(client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    claims.update(changes)
    for name, value in list(claims.items()):
        if value is None:
            del claims[name]
    header = {"kid": keys.signing_kid, "typ": "at+jwt", **(headers or {})}
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=header)


async def test_correctly_signed_control_token_is_accepted(client: Client) -> None:
    tokens = await register(client)
    token = await crafted(client, tokens, jti=uuid.uuid4().hex)
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_expired_token_is_token_expired(client: Client) -> None:
    tokens = await register(client)
    now = int(time.time())
    token = await crafted(client, tokens, iat=now - 1000, exp=now - 100)
    assert_rejected(await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), "token_expired")


async def test_leeway_is_at_most_thirty_seconds(client: Client) -> None:
    tokens = await register(client)
    now = int(time.time())
    token = await crafted(client, tokens, iat=now - 931, exp=now - 31)
    assert_rejected(await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), "token_expired")


BAD_CLAIMS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"typ": "JWT"}, {}),
    ({"typ": None}, {}),
    ({"kid": "unknown-kid"}, {}),
    ({}, {"aud": "someone-else"}),
    ({}, {"iss": "https://evil.example"}),
    ({}, {"sub": None}),
    ({}, {"sid": None}),
    ({}, {"exp": None}),
    ({}, {"iat": None}),
    ({}, {"iss": None}),
    ({}, {"aud": None}),
    ({}, {"sub": "not-a-uuid"}),
    ({}, {"sid": "not-a-uuid"}),
]


async def test_wrong_type_or_claims_are_invalid_token(client: Client) -> None:
    tokens = await register(client)
    for headers, changes in BAD_CLAIMS:
        token = await crafted(client, tokens, headers=headers, **changes)
        if "typ" in headers:
            assert jwt.get_unverified_header(token).get("typ") != "at+jwt"
        response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (headers, changes)
        assert_rejected(response, "invalid_token")
    assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200


async def test_token_for_a_session_that_never_existed_is_revoked(client: Client) -> None:
    tokens = await register(client)
    token = await crafted(client, tokens, sid=str(uuid.uuid4()))
    assert_rejected(await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), "token_revoked")


async def test_short_lived_token_expires(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(access_token_ttl=1, jwt_leeway=0))
    async with AsyncTestClient(app) as client:
        tokens = await register(client)
        assert tokens["expires_in"] == 1
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 1
        assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200
        await asyncio.sleep(2.2)
        assert_rejected(await client.get("/auth/me", headers=bearer(tokens)), "token_expired")


async def test_es256_tokens_verify_against_the_jwks(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(jwt_algorithm="ES256"))) as client:
        tokens = await register(client)
        header = jwt.get_unverified_header(tokens["access_token"])
        assert header["alg"] == "ES256"
        assert header["typ"] == "at+jwt"
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
        [jwk] = [k for k in keys if k["kid"] == header["kid"]]
        assert jwk["kty"] == "EC"
        assert jwk["crv"] == "P-256"
        assert "d" not in jwk
        claims = jwt.decode(
            tokens["access_token"], jwt.PyJWK(jwk).key, algorithms=["ES256"], options={"verify_aud": False}
        )
        assert claims["exp"] - claims["iat"] == 900
        assert (await client.get("/auth/me", headers=bearer(tokens))).status_code == 200


async def test_hs256_mode(make_settings: MakeSettings, client: Client) -> None:
    eddsa_tokens = await register(client)
    async with AsyncTestClient(create_app(settings=make_settings(jwt_algorithm="HS256"))) as hs:
        tokens = await register(hs)
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"
        assert (await hs.get("/auth/me", headers=bearer(tokens))).status_code == 200
        jwks = await hs.get("/.well-known/jwks.json")
        if jwks.status_code == 200:
            assert jwks.json()["keys"] == []  # never the shared secret
        else:
            assert_problem(jwks, 404, "not_found")
        # a token signed with another algorithm is refused (algorithm pinned)
        assert_rejected(await hs.get("/auth/me", headers=bearer(eddsa_tokens)), "invalid_token")
