"""API.md "Conventions": request ids, problem documents, 401 challenges, 404/405, bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import assert_problem, bearer, create_api_key, register, run_concurrently

Client = AsyncTestClient[Litestar]
GENERATED_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
RFC6750_INVALID = re.compile(r'^Bearer realm="musicez", error="invalid_token", error_description="[^"\\]*"$')


# -- X-Request-ID -----------------------------------------------------------------------------


SANE_IDS = ["abc", "A.b_c-9", "x" * 128, "0"]
INSANE_IDS = ["", "x" * 129, "has space", "semi;colon", 'quote"d', "ünïcode", "a/b", "a=b"]
ROUTES_OF_EVERY_KIND = [
    ("GET", "/health/live"),  # public
    ("GET", "/no/such/path"),  # 404
    ("DELETE", "/health/live"),  # 405
    ("PUT", "/auth/login"),  # 405 on a body route
    ("GET", "/auth/me"),  # 401
    ("POST", "/auth/login"),  # 415 (no body)
]


async def test_sane_request_id_is_echoed(client: Client) -> None:
    for method, path in ROUTES_OF_EVERY_KIND:
        for sane in SANE_IDS:
            response = await client.request(method, path, headers={"X-Request-ID": sane})
            assert response.headers.get_list("x-request-id") == [sane], (method, path, sane)


async def test_insane_request_id_is_replaced_by_a_generated_one(client: Client) -> None:
    for method, path in ROUTES_OF_EVERY_KIND:
        for insane in INSANE_IDS:
            response = await client.request(method, path, headers={b"X-Request-ID": insane.encode("utf-8")})
            [generated] = response.headers.get_list("x-request-id")
            assert generated != insane, (method, path, insane)
            assert GENERATED_ID.match(generated), (method, path, insane)


async def test_request_id_is_generated_when_absent_and_differs_per_request(client: Client) -> None:
    ids = set()
    for path in ("/health/live", "/nope", "/health/live"):
        response = await client.get(path)
        assert GENERATED_ID.match(response.headers["x-request-id"])
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 3


async def test_only_one_request_id_header(client: Client) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "one-id"})
    assert response.headers.get_list("x-request-id") == ["one-id"]


# -- 401 and the challenge ------------------------------------------------------------------------


async def test_missing_credentials(client: Client) -> None:
    response = await client.get("/auth/me")
    assert_problem(response, 401, "missing_credentials")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert 'realm="musicez"' in challenge
    assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no credential was sent


async def test_rejected_bearer_gets_an_rfc6750_challenge(client: Client) -> None:
    for header in [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer " + "x" * 5000,
        "Basic dXNlcjpwYXNz",
        "Bearer    ",
        "Token abc",
    ]:
        response = await client.get("/auth/me", headers={"Authorization": header})
        assert_problem(response, 401, "invalid_token")
        assert RFC6750_INVALID.match(response.headers["www-authenticate"]), (
            header,
            response.headers["www-authenticate"],
        )


async def test_every_401_carries_www_authenticate(client: Client) -> None:
    tokens = await register(client)
    await client.post("/auth/logout", headers=bearer(tokens))
    cases = [
        await client.get("/auth/me"),
        await client.get("/auth/me", headers={"X-API-Key": "mez_nope"}),
        await client.get("/auth/me", headers=bearer(tokens)),
        await client.post("/auth/login", json={"email": unique_email(), "password": STRONG_PASSWORD}),
        await client.post("/auth/refresh", json={"refresh_token": "nope"}),
    ]
    for response in cases:
        assert response.status_code == 401
        assert response.headers.get("www-authenticate"), response.request.url


# -- 404 / 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", ["none", "bearer", "garbage-bearer", "api-key"])
async def test_unknown_path_is_404_not_found(client: Client, credentials: str) -> None:
    headers = await _credentials(client, credentials)
    for path in ["/nope", "/auth", "/auth/me/extra", "/health/live/x", "/.well-known/nope"]:
        for method in ("GET", "POST", "DELETE"):
            response = await client.request(method, path, headers=headers)
            assert_problem(response, 404, "not_found")
            assert "www-authenticate" not in response.headers, (method, path)


WRONG_METHODS = [
    ("GET", "/auth/login", {"POST"}),
    ("DELETE", "/auth/register", {"POST"}),
    ("PUT", "/auth/refresh", {"POST"}),
    ("POST", "/auth/me", {"GET"}),
    ("PATCH", "/auth/sessions", {"GET"}),
    ("GET", "/auth/logout", {"POST"}),
    ("POST", "/health/live", {"GET"}),
    ("POST", "/health", {"GET"}),
    ("GET", "/auth/password/change", {"POST"}),
    ("POST", "/auth/sessions/0193c1d2-0000-7000-8000-000000000000", {"DELETE"}),
]


@pytest.mark.parametrize("credentials", ["none", "bearer", "garbage-bearer", "api-key"])
async def test_wrong_method_is_405_with_allow(client: Client, credentials: str) -> None:
    headers = await _credentials(client, credentials)
    for method, path, allowed in WRONG_METHODS:
        response = await client.request(method, path, headers=headers)
        assert_problem(response, 405, "method_not_allowed")
        allow = {m.strip().upper() for m in response.headers["allow"].split(",") if m.strip()}
        assert allowed <= allow, (method, path, allow)
        assert method not in allow


# -- HEAD -------------------------------------------------------------------------------------

# Headers that differ from one answer to the next by nature
PER_ANSWER = {"x-request-id", "date", "ratelimit-remaining", "ratelimit-reset"}


@pytest.mark.parametrize("credentials", ["none", "bearer", "garbage-bearer", "api-key"])
async def test_head_is_served_as_the_get_without_its_body(client: Client, credentials: str) -> None:
    """RFC 9110 9.3.2: a server that answers GET answers HEAD (health checks and monitors use it),
    with the headers the GET would have, `Content-Length` included, and no body."""
    headers = await _credentials(client, credentials)
    for path in ["/health/live", "/health/ready", "/auth/me", "/auth/sessions", "/.well-known/jwks.json", "/nope"]:
        got = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert head.status_code == got.status_code, (path, credentials)
        assert head.content == b"", path
        assert head.headers["content-length"] == str(len(got.content)), path
        same = {k: v for k, v in got.headers.items() if k not in PER_ANSWER}
        assert {k: v for k, v in head.headers.items() if k not in PER_ANSWER} == same, path


@pytest.mark.parametrize("credentials", ["none", "bearer"])
async def test_allow_names_head_where_get_is_allowed(client: Client, credentials: str) -> None:
    """`Allow` names HEAD wherever it names GET (405 and OPTIONS alike); where GET is not allowed,
    neither is HEAD."""
    headers = await _credentials(client, credentials)
    for method, path in [("DELETE", "/health/live"), ("POST", "/auth/me"), ("PUT", "/auth/sessions")]:
        response = await client.request(method, path, headers=headers)
        assert_problem(response, 405, "method_not_allowed")
        assert {"GET", "HEAD"} <= {m.strip() for m in response.headers["allow"].split(",")}, path
        options = await client.options(path, headers=headers)
        assert "HEAD" in {m.strip() for m in options.headers["allow"].split(",")}, path
    for path in ["/auth/login", "/auth/logout", "/auth/refresh"]:
        refused = await client.head(path, headers=headers)
        assert refused.status_code == 405, path
        assert refused.content == b""
        assert not {"GET", "HEAD"} & {m.strip() for m in refused.headers["allow"].split(",")}, path


# -- bodies -----------------------------------------------------------------------------------


BADLY_TYPED = [
    ("/auth/register", {"email": 1, "password": STRONG_PASSWORD}),
    ("/auth/register", {"email": "a@example.com", "password": ["x"]}),
    ("/auth/register", {"email": "a@example.com"}),
    ("/auth/register", {"password": STRONG_PASSWORD}),
    ("/auth/register", {}),
    ("/auth/register", []),
    ("/auth/register", "a string"),
    ("/auth/register", 42),
    ("/auth/register", {"email": None, "password": STRONG_PASSWORD}),
    ("/auth/register", {"email": "a@example.com", "password": STRONG_PASSWORD, "device_name": 7}),
    ("/auth/login", {"email": "a@example.com", "password": 12345678901234}),
    ("/auth/login", {"email": "a@example.com"}),
    ("/auth/login", {"email": True, "password": "x"}),
    ("/auth/login", {"email": "a@example.com", "password": "x", "device_name": ["phone"]}),
    ("/auth/refresh", {}),
    ("/auth/refresh", {"refresh_token": 5}),
    ("/auth/refresh", {"refresh_token": None}),
    ("/auth/password/forgot", {}),
    ("/auth/password/forgot", {"email": {"a": 1}}),
    ("/auth/password/reset", {"token": "x"}),
    ("/auth/password/reset", {"new_password": STRONG_PASSWORD}),
    ("/auth/password/reset", {"token": 1, "new_password": STRONG_PASSWORD}),
]


async def test_wrong_types_and_missing_fields_are_validation_errors(client: Client) -> None:
    for path, body in BADLY_TYPED:
        response = await client.post(path, json=body)
        problem = assert_problem(response, 400, "validation_error")
        assert isinstance(problem.get("errors"), list), (path, body, problem)
        assert problem["errors"], (path, body, problem)
        for error in problem["errors"]:
            assert set(error) == {"field", "message"}
            assert isinstance(error["field"], str)
            assert error["field"]
            assert isinstance(error["message"], str)
            assert error["message"]


async def test_validation_error_names_the_field(client: Client) -> None:
    response = await client.post("/auth/register", json={"email": "a@example.com", "password": 5})
    problem = assert_problem(response, 400, "validation_error")
    assert any("password" in error["field"] for error in problem["errors"]), problem


async def test_validation_error_on_a_user_route(client: Client) -> None:
    tokens = await register(client)
    response = await client.post(
        "/auth/password/change", json={"current_password": STRONG_PASSWORD}, headers=bearer(tokens)
    )
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"]
    response = await client.post(
        "/auth/password/change", json={"current_password": 1, "new_password": 2}, headers=bearer(tokens)
    )
    assert_problem(response, 400, "validation_error")


BODY_ROUTES = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/password/forgot", "/auth/password/reset"]


async def test_malformed_json_is_a_400_problem(client: Client) -> None:
    for path in BODY_ROUTES:
        for raw in [
            b"{",
            b"{'email': 'x'}",
            b"not json",
            b'{"email": "a@example.com", "password": "x",}',
            b"\xff\xfe\x00",
            b"",
        ]:
            response = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
            problem = assert_problem(response, 400, "validation_error")
            assert "Traceback" not in response.text
            assert isinstance(problem.get("errors"), list), (path, raw, problem)
            assert problem["errors"], (path, raw, problem)


async def test_a_megabyte_body_is_413_never_500(client: Client) -> None:
    huge = b'{"email": "' + b"a" * (1024 * 1024) + b'@example.com", "password": "x"}'
    for path in BODY_ROUTES:
        response = await client.post(path, content=huge, headers={"Content-Type": "application/json"})
        assert_problem(response, 413, "payload_too_large")


async def test_a_megabyte_body_on_a_guarded_route_is_4xx_never_500(client: Client) -> None:
    tokens = await register(client)
    huge = b'{"current_password": "' + b"a" * (1024 * 1024) + b'", "new_password": "x"}'
    response = await client.post(
        "/auth/password/change", content=huge, headers={**bearer(tokens), "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_body_routes_need_application_json(client: Client) -> None:
    body = b'{"email": "a@example.com", "password": "x", "refresh_token": "x", "token": "x", "new_password": "x"}'
    for path in BODY_ROUTES:
        for content_type in ["text/plain", None, "application/x-www-form-urlencoded", "application/jsonx", "text/json"]:
            headers = {"Content-Type": content_type} if content_type else {}
            response = await client.post(path, content=body, headers=headers)
            if content_type is None:
                assert "content-type" not in response.request.headers
            assert_problem(response, 415, "unsupported_media_type")


async def test_password_change_needs_application_json(client: Client) -> None:
    tokens = await register(client)
    response = await client.post(
        "/auth/password/change",
        content=b'{"current_password": "x", "new_password": "y"}',
        headers={**bearer(tokens), "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"]
)
async def test_json_with_parameters_is_accepted(client: Client, content_type: str) -> None:
    email = unique_email()
    response = await client.post(
        "/auth/register",
        content=f'{{"email": "{email}", "password": "{STRONG_PASSWORD}"}}'.encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        "/auth/login",
        content=f'{{"email": "{email}", "password": "{STRONG_PASSWORD}"}}'.encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text


async def test_routes_without_a_body_do_not_demand_a_content_type(client: Client) -> None:
    tokens = await register(client)
    response = await client.post("/auth/logout", headers={**bearer(tokens), "Content-Type": "text/plain"})
    assert response.status_code == 204, response.text


# -- no secrets in responses ------------------------------------------------------------------


async def test_no_response_contains_a_password_or_hash(client: Client) -> None:
    email = unique_email()
    password = "Unusual-Secret-Phrase-42"
    bodies: list[str] = []
    first = await client.post("/auth/register", json={"email": email, "password": password})
    assert first.status_code == 201
    bodies.append(first.text)
    tokens = first.json()
    for response in (
        await client.post("/auth/register", json={"email": email, "password": password}),
        await client.post("/auth/login", json={"email": email, "password": password}),
        await client.post("/auth/login", json={"email": email, "password": password + "x"}),
        await client.get("/auth/me", headers=bearer(tokens)),
        await client.get("/auth/sessions", headers=bearer(tokens)),
        await client.post(
            "/auth/password/change",
            json={"current_password": password + "x", "new_password": "short"},
            headers=bearer(tokens),
        ),
        await client.post(
            "/auth/password/change",
            json={"current_password": password, "new_password": "short"},
            headers=bearer(tokens),
        ),
        await client.post("/auth/register", json={"email": unique_email(), "password": "short"}),
        await client.post("/auth/password/forgot", json={"email": email}),
    ):
        bodies.append(response.text + str(response.headers))
    for text in bodies:
        assert password not in text
        assert 'short"' not in text
        assert "$2b$" not in text
        assert "$2a$" not in text
        assert "$2y$" not in text
        assert "Traceback" not in text


# -- helpers ------------------------------------------------------------------------------------


async def _credentials(client: Client, kind: str) -> dict[str, str]:
    if kind == "bearer":
        return bearer(await register(client))
    if kind == "garbage-bearer":
        return {"Authorization": "Bearer garbage"}
    if kind == "api-key":
        return {"X-API-Key": "mez_garbage"}
    return {}


async def test_a_json_body_that_is_not_an_object_is_a_validation_error(client: Client) -> None:
    for raw in [b"null", b"42", b'"text"', b"[]", b"true"]:
        response = await client.post("/auth/login", content=raw, headers={"Content-Type": "application/json"})
        problem = assert_problem(response, 400, "validation_error")
        assert problem["errors"], raw


# -- credentials on public routes, scheme case --------------------------------------------------


async def test_public_routes_ignore_credentials(client: Client) -> None:
    junk = {"Authorization": "Bearer garbage", "X-API-Key": "mez_garbage"}
    email = unique_email()
    registered = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}, headers=junk)
    assert registered.status_code == 201, registered.text
    login = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}, headers=junk)
    assert login.status_code == 200, login.text
    refreshed = await client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}, headers=junk)
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.post("/auth/password/forgot", json={"email": email}, headers=junk)).status_code == 202
    reset = await client.post(
        "/auth/password/reset", json={"token": "x" * 43, "new_password": "Brand-New-Melody-42"}, headers=junk
    )
    assert_problem(reset, 400, "invalid_reset_token")
    for path in ("/health/live", "/health/ready", "/.well-known/jwks.json", "/schema/openapi.json"):
        assert (await client.get(path, headers=junk)).status_code == 200, path


async def test_bearer_scheme_is_case_insensitive(client: Client) -> None:
    tokens = await register(client)
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = await client.get("/auth/me", headers={"Authorization": f"{scheme} {tokens['access_token']}"})
        assert response.status_code == 200, scheme


async def test_listing_sessions_hands_out_no_tokens(client: Client) -> None:
    tokens = await register(client)
    for path in ("/auth/sessions", "/auth/me"):
        text = (await client.get(path, headers=bearer(tokens))).text
        assert tokens["refresh_token"] not in text
        assert tokens["access_token"] not in text


async def test_a_chunked_oversize_body_is_413(client: Client) -> None:
    """No Content-Length to go by: the body is cut off while it streams in."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(64):
            yield b"a" * 16384
        yield b'@example.com", "password": "x"}'

    call = ("POST", "/auth/login", {"content": chunks(), "headers": {"Content-Type": "application/json"}})
    [response] = await run_concurrently(client, [call])
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


# -- Cache-Control on authenticated answers ------------------------------------------------------


async def test_every_authenticated_answer_says_no_store_and_public_ones_do_not(client: Client) -> None:
    """A response to an authenticated request is the principal's own: no cache may keep it. The
    outer middleware adds `Cache-Control: no-store` to every response of a request the guard authenticated."""
    tokens = await register(client, unique_email(), STRONG_PASSWORD)
    user = bearer(tokens)
    key = {"X-API-Key": (await create_api_key(client)).secret}
    authenticated = [
        ("GET", "/auth/me", user),
        ("GET", "/auth/me", key),
        ("GET", "/auth/sessions", user),
        ("GET", "/auth/activity", user),
        ("GET", "/auth/verify", user),
        ("GET", "/auth/verify", key),
    ]
    for method, path, headers in authenticated:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 200, (method, path, response.text)
        assert response.headers.get_list("cache-control") == ["no-store"], (method, path)
    # Answers that no principal was authenticated for are left as the route made them.
    for method, path, headers in [("GET", "/health/live", {}), ("GET", "/auth/me", {})]:
        response = await client.request(method, path, headers=headers)
        assert "cache-control" not in response.headers, (method, path)
    # A guarded route that answers 204 carries it too.
    logout = await client.post("/auth/logout", headers=user)
    assert logout.status_code == 204
    assert logout.headers.get_list("cache-control") == ["no-store"]
