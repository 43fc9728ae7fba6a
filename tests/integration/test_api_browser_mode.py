"""Browser mode (API.md v1.1): the refresh token in an HttpOnly cookie, CSRF by Origin and
Sec-Fetch-Site, the cookie cleared by the routes that end the session, CORS with credentials.

Every test runs on the Redis session store and on the in-process one. The test client's base
URL is `http://testserver.local`, so that (scheme and `Host`) is the service's own origin
unless `MUSICEZ_PUBLIC_URL` says otherwise. The client's cookie jar never sends a `Secure`
cookie over http, so each test sends the cookie it means to send itself.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_passwords import RESET_URL, reset_token_for
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer

Client = AsyncTestClient[Litestar]
OWN_ORIGIN = "http://testserver.local"
LISTED = "http://localhost:5173"
NAME = "__Secure-musicez_refresh"
SET_COOKIE = re.compile(
    r"__Secure-musicez_refresh=([A-Za-z0-9_-]{86,160}); Path=/auth; Max-Age=(\d+); Secure; HttpOnly; SameSite=Strict"
)
CLEARED = "__Secure-musicez_refresh=; Path=/auth; Max-Age=0; Secure; HttpOnly; SameSite=Strict"


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {} if request.param == "redis" else {"redis_url": None}


@pytest.fixture
def browser_settings(make_settings: MakeSettings, store: dict[str, Any]) -> MakeSettings:
    """Settings on this test's session store, with one listed origin."""

    def make(**overrides: Any) -> Any:
        return make_settings(**{"cors_origins": f"{LISTED},https://app.example.com", **store, **overrides})

    return make


@pytest.fixture
async def client(browser_settings: MakeSettings) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(settings=browser_settings(password_reset_url=RESET_URL))) as test_client:
        yield test_client


@pytest.fixture
async def strict_client(browser_settings: MakeSettings) -> AsyncIterator[Client]:
    """No reuse grace: a refresh token presented twice is theft, so "nothing rotated" is visible."""
    async with AsyncTestClient(create_app(settings=browser_settings(refresh_reuse_grace=0))) as test_client:
        yield test_client


def cookie_from(response: Any) -> str:
    """The refresh token in the response's Set-Cookie, which has exactly the attributes of API.md."""
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    match = SET_COOKIE.fullmatch(values[0])
    assert match, values[0]
    assert int(match.group(2)) == response.json()["refresh_expires_in"]
    return match.group(1)


def with_cookie(token: str, origin: str | None = OWN_ORIGIN, **headers: str) -> dict[str, str]:
    sent = {"Cookie": f"{NAME}={token}", **headers}
    if origin is not None:
        sent["Origin"] = origin
    return sent


async def start(client: Client, email: str | None = None) -> tuple[dict[str, Any], str]:
    """Register in cookie mode: the token response and the refresh token from the cookie."""
    body = {"email": email or unique_email("browser"), "password": STRONG_PASSWORD, "refresh_token_transport": "cookie"}
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json(), cookie_from(response)


async def cookie_refresh(client: Client, token: str, origin: str | None = OWN_ORIGIN, **headers: str) -> Any:
    return await client.post("/auth/refresh", json={}, headers=with_cookie(token, origin, **headers))


# -- the cookie transport ---------------------------------------------------------------------


async def test_register_and_login_in_cookie_mode_put_the_refresh_token_in_the_cookie_only(client: Client) -> None:
    registered = await client.post(
        "/auth/register",
        json={"email": (email := unique_email()), "password": STRONG_PASSWORD, "refresh_token_transport": "cookie"},
    )
    assert registered.status_code == 201, registered.text
    logged_in = await client.post(
        "/auth/login", json={"email": email, "password": STRONG_PASSWORD, "refresh_token_transport": "cookie"}
    )
    assert logged_in.status_code == 200, logged_in.text
    for response in (registered, logged_in):
        token = cookie_from(response)
        body = response.json()
        assert "refresh_token" not in body
        assert token not in response.text
        assert 604_799 <= body["refresh_expires_in"] <= 604_800
        assert body["token_type"] == "Bearer"
        assert {"access_token", "expires_in", "session_id", "user"} <= set(body)
        assert "no-store" in response.headers["cache-control"]
        assert (await client.get("/auth/me", headers=bearer(body))).status_code == 200
    assert registered.json()["session_id"] != logged_in.json()["session_id"]


@pytest.mark.parametrize("transport", [None, "body"])
async def test_body_mode_is_the_default_and_sets_no_cookie(client: Client, transport: str | None) -> None:
    body: dict[str, Any] = {"email": (email := unique_email()), "password": STRONG_PASSWORD}
    if transport:
        body["refresh_token_transport"] = transport
    for path in ("/auth/register", "/auth/login"):
        response = await client.post(path, json=body if path == "/auth/register" else {**body, "email": email})
        assert response.status_code in (200, 201), response.text
        assert isinstance(response.json()["refresh_token"], str)
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("transport", ["Cookie", "header", "", "cookie ", 1, None, ["cookie"]])
async def test_any_other_transport_is_a_validation_error(client: Client, transport: object) -> None:
    email = unique_email()
    for path in ("/auth/register", "/auth/login"):
        response = await client.post(
            path, json={"email": email, "password": STRONG_PASSWORD, "refresh_token_transport": transport}
        )
        problem = assert_problem(response, 400, "validation_error")
        assert [e["field"] for e in problem["errors"]] == ["refresh_token_transport"], problem
        assert "set-cookie" not in response.headers


async def test_the_cookie_lives_as_long_as_the_refresh_token(browser_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=browser_settings(session_max_age=3600))) as client:
        body, _ = await start(client)  # cookie_from checks Max-Age == refresh_expires_in
        assert 3599 <= body["refresh_expires_in"] <= 3600


# -- refresh from the cookie ----------------------------------------------------------------


async def test_refresh_from_the_cookie_rotates_and_sets_the_new_cookie(client: Client) -> None:
    first, token = await start(client)
    response = await cookie_refresh(client, token)
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    second = response.json()
    assert "refresh_token" not in second
    successor = cookie_from(response)
    assert successor != token
    assert successor not in response.text
    assert second["session_id"] == first["session_id"]
    assert second["access_token"] != first["access_token"]
    assert (await client.get("/auth/me", headers=bearer(second))).status_code == 200
    third = await cookie_refresh(client, successor, **{"Sec-Fetch-Site": "same-origin"})
    assert third.status_code == 200, third.text
    assert cookie_from(third) not in (token, successor)


async def test_a_body_refresh_token_wins_over_the_cookie(client: Client) -> None:
    _, cookie_token = await start(client)
    email = unique_email()
    in_body = (await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})).json()
    # No Origin at all: the cookie does not authenticate this request, so CSRF does not apply.
    response = await client.post(
        "/auth/refresh",
        json={"refresh_token": in_body["refresh_token"]},
        headers={"Cookie": f"{NAME}={cookie_token}", "Origin": "https://evil.example"},
    )
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    rotated = response.json()
    assert rotated["session_id"] == in_body["session_id"]
    assert isinstance(rotated["refresh_token"], str)
    assert rotated["refresh_token"] != in_body["refresh_token"]
    # A bad body token is not rescued by a good cookie.
    bad = await client.post("/auth/refresh", json={"refresh_token": "not-a-token"}, headers=with_cookie(cookie_token))
    assert_problem(bad, 401, "invalid_refresh_token")
    # ... and the cookie's session was not rotated by either request.
    assert (await cookie_refresh(client, cookie_token)).status_code == 200


@pytest.mark.parametrize("cookie", [None, f"{NAME}=", f'{NAME}=""', "other=value", "__Secure-musicez_refresh2=x"])
async def test_neither_a_body_token_nor_the_cookie_is_a_validation_error(client: Client, cookie: str | None) -> None:
    headers = {"Origin": OWN_ORIGIN} | ({"Cookie": cookie} if cookie else {})
    response = await client.post("/auth/refresh", json={}, headers=headers)
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["refresh_token"]


async def test_a_dead_cookie_is_an_invalid_refresh_token_and_is_cleared(client: Client) -> None:
    """A cookie that can never refresh again is cleared with the 401: kept, the browser would
    present it on every page load, each a failure charged to its address's refresh budget."""
    body, token = await start(client)
    assert (await client.post("/auth/logout", headers=bearer(body))).status_code == 204
    for dead in (token, "x" * 86):
        response = await cookie_refresh(client, dead)
        assert_problem(response, 401, "invalid_refresh_token")
        assert response.headers.get_list("set-cookie") == [CLEARED]
        assert response.headers["www-authenticate"] == 'Bearer realm="musicez"'
    # The same dead token in the body: a body-mode client, whose cookie (if any) is not in question
    response = await client.post("/auth/refresh", json={"refresh_token": token}, headers=with_cookie(token))
    assert_problem(response, 401, "invalid_refresh_token")
    assert "set-cookie" not in response.headers


async def test_a_stolen_cookie_token_is_reuse_and_is_cleared(strict_client: Client) -> None:
    _, token = await start(strict_client)
    rotated = await cookie_refresh(strict_client, token)
    assert rotated.status_code == 200, rotated.text
    cookie_from(rotated)
    reused = await cookie_refresh(strict_client, token)
    assert_problem(reused, 401, "refresh_token_reused")
    assert reused.headers.get_list("set-cookie") == [CLEARED]


async def test_a_throttled_cookie_refresh_keeps_the_cookie(browser_settings: MakeSettings) -> None:
    """A 429 is no verdict on the token: the cookie may work again once the window has passed."""
    async with AsyncTestClient(create_app(settings=browser_settings(refresh_session_limit="1/minute"))) as client:
        _, token = await start(client)
        rotated = await cookie_refresh(client, token)
        assert rotated.status_code == 200, rotated.text
        limited = await cookie_refresh(client, cookie_from(rotated))
        assert_problem(limited, 429, "rate_limited")
        assert "set-cookie" not in limited.headers


async def test_the_cookie_name_and_path_come_from_the_settings(browser_settings: MakeSettings) -> None:
    settings = browser_settings(refresh_cookie_name="mez_rt", refresh_cookie_path="/auth/")
    async with AsyncTestClient(create_app(settings=settings)) as client:
        response = await client.post(
            "/auth/register",
            json={"email": unique_email(), "password": STRONG_PASSWORD, "refresh_token_transport": "cookie"},
        )
        assert response.status_code == 201
        match = re.fullmatch(
            r"mez_rt=([A-Za-z0-9_-]{86,160}); Path=/auth/; Max-Age=\d+; Secure; HttpOnly; SameSite=Strict",
            response.headers["set-cookie"],
        )
        assert match, response.headers["set-cookie"]
        headers = {"Cookie": f"{NAME}=ignored; mez_rt={match.group(1)}", "Origin": OWN_ORIGIN}
        refreshed = await client.post("/auth/refresh", json={}, headers=headers)
        assert refreshed.status_code == 200, refreshed.text
        successor = refreshed.headers["set-cookie"].split(";")[0].removeprefix("mez_rt=")
        logout = await client.post(
            "/auth/logout", headers={**bearer(refreshed.json()), "Cookie": f"mez_rt={successor}"}
        )
        assert logout.headers["set-cookie"] == "mez_rt=; Path=/auth/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"


# -- CSRF -------------------------------------------------------------------------------------

REFUSED_ORIGINS = [
    None,  # no Origin header
    "null",  # sandboxed frames, file: pages, some redirects
    "https://evil.example",
    "http://testserver.local.evil.example",
    "http://evil.example?http://testserver.local",
    "https://testserver.local",  # another scheme is another origin
    "http://testserver.local:8080",  # another port too
    "http://user@testserver.local",
    "http://localhost:5174",  # next to a listed origin
    "http://localhost",
    "",
]


async def test_a_cookie_refresh_from_an_origin_that_is_neither_own_nor_listed_is_refused(
    strict_client: Client,
) -> None:
    body, token = await start(strict_client)
    for origin in REFUSED_ORIGINS:
        response = await cookie_refresh(strict_client, token, origin=origin)
        assert_problem(response, 403, "csrf_rejected")
        assert "set-cookie" not in response.headers
    # Two Origin headers: a browser never sends that.
    doubled = await strict_client.post(
        "/auth/refresh",
        json={},
        headers=[("Cookie", f"{NAME}={token}"), ("Origin", OWN_ORIGIN), ("Origin", "https://evil.example")],
    )
    assert_problem(doubled, 403, "csrf_rejected")
    # The browser says cross-site, yet the Origin claims to be ours: not a browser we trust.
    lying = await cookie_refresh(strict_client, token, **{"Sec-Fetch-Site": "cross-site"})
    assert_problem(lying, 403, "csrf_rejected")
    # Nothing rotated: with no grace, a rotated-away token would now be theft.
    assert (await strict_client.get("/auth/me", headers=bearer(body))).status_code == 200
    response = await cookie_refresh(strict_client, token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("origin", "fetch_site"),
    [
        (OWN_ORIGIN, None),
        (OWN_ORIGIN, "same-origin"),
        ("HTTP://TestServer.Local:80", "same-origin"),  # the same origin, spelt otherwise
        (LISTED, "same-site"),  # localhost:5173 and the API are one site
        (LISTED, "cross-site"),
        ("https://app.example.com", "cross-site"),
        ("https://app.example.com:443", None),
    ],
)
async def test_a_cookie_refresh_from_the_own_or_a_listed_origin_is_accepted(
    client: Client, origin: str, fetch_site: str | None
) -> None:
    _, token = await start(client)
    extra = {"Sec-Fetch-Site": fetch_site} if fetch_site else {}
    response = await cookie_refresh(client, token, origin=origin, **extra)
    assert response.status_code == 200, response.text
    cookie_from(response)


async def test_with_a_public_url_that_is_the_own_origin_and_the_host_is_not(browser_settings: MakeSettings) -> None:
    settings = browser_settings(public_url="https://auth.example.com", refresh_reuse_grace=0)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        _, token = await start(client)
        assert_problem(await cookie_refresh(client, token, origin=OWN_ORIGIN), 403, "csrf_rejected")
        accepted = await cookie_refresh(
            client, token, origin="https://auth.example.com", **{"Sec-Fetch-Site": "same-origin"}
        )
        assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_a_form_cannot_refresh_with_the_cookie(strict_client: Client, content_type: str) -> None:
    _, token = await start(strict_client)
    response = await strict_client.post(
        "/auth/refresh", content=b"{}", headers={**with_cookie(token), "Content-Type": content_type}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert (await cookie_refresh(strict_client, token)).status_code == 200


async def test_bearer_authenticated_requests_are_not_subject_to_the_origin_check(client: Client) -> None:
    body, token = await start(client)
    foreign = {**bearer(body), "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert (await client.get("/auth/me", headers=foreign)).status_code == 200
    assert (await client.get("/auth/sessions", headers={**foreign, "Cookie": f"{NAME}={token}"})).status_code == 200
    response = await client.post("/auth/logout", headers={**foreign, "Cookie": f"{NAME}={token}"})
    assert response.status_code == 204
    assert response.headers["set-cookie"] == CLEARED


ACCEPTED = {("http", "testserver.local", 80), ("http", "localhost", 5173), ("https", "app.example.com", 443)}
DEFAULT_PORT = {"http": 80, "https": 443}

origins = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "", "http:/"]),
    st.sampled_from(["testserver.local", "TestServer.Local", "localhost", "app.example.com", "evil.example", ""]),
    st.sampled_from([None, 80, 443, 5173, 8080, 0]),
    st.sampled_from(["", "/", "/auth", "?x", "#x", "@evil.example", " "]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    parts=origins,
    noise=st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)),
)
async def test_an_origin_is_accepted_only_when_it_is_the_own_or_a_listed_one(
    strict_client: Client, parts: tuple[str, str, int | None, str], noise: str | None
) -> None:
    scheme, host, port, tail = parts
    if noise is None:
        origin = f"{scheme}://{host}{'' if port is None else f':{port}'}{tail}"
        effective = DEFAULT_PORT.get(scheme.lower()) if port is None else port
        expected = (scheme.lower(), host.lower(), effective) in ACCEPTED and tail.strip() in ("", "/")
    else:  # arbitrary text: never an origin we list (the alphabet has no way to spell one by chance)
        origin, expected = noise, False
    _, token = await start(strict_client)
    headers = [(b"Cookie", f"{NAME}={token}".encode()), (b"Origin", origin.encode("latin-1"))]
    response = await strict_client.post("/auth/refresh", json={}, headers=headers)
    if expected:
        assert response.status_code == 200, (origin, response.text)
    else:
        assert_problem(response, 403, "csrf_rejected")
        assert (await cookie_refresh(strict_client, token)).status_code == 200, origin  # nothing rotated


# -- the routes that end the session clear the cookie -----------------------------------------


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/logout-all"])
async def test_logging_out_clears_the_cookie_when_the_request_carried_it(client: Client, path: str) -> None:
    body, token = await start(client)
    response = await client.post(path, headers={**bearer(body), "Cookie": f"theme=dark; {NAME}={token}"})
    assert response.status_code == 204
    assert response.headers.get_list("set-cookie") == [CLEARED]
    other, _ = await start(client)
    without = await client.post(path, headers=bearer(other))
    assert without.status_code == 204
    assert "set-cookie" not in without.headers


async def test_a_password_reset_clears_the_cookie_when_the_request_carried_it(client: Client) -> None:
    email = unique_email("reset")
    _, token = await start(client, email)
    reset = await client.post(
        "/auth/password/reset",
        json={"token": await reset_token_for(client, email), "new_password": "Brand-New-Melody-42"},
        headers={"Cookie": f"{NAME}={token}"},
    )
    assert reset.status_code == 204, reset.text
    assert reset.headers.get_list("set-cookie") == [CLEARED]
    assert_problem(await cookie_refresh(client, token), 401, "invalid_refresh_token")
    other = unique_email("reset")
    await start(client, other)
    without = await client.post(
        "/auth/password/reset",
        json={"token": await reset_token_for(client, other), "new_password": "Brand-New-Melody-42"},
    )
    assert without.status_code == 204, without.text
    assert "set-cookie" not in without.headers


async def test_a_password_change_keeps_the_cookie(client: Client) -> None:
    body, token = await start(client)
    response = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": "Brand-New-Melody-42"},
        headers={**bearer(body), "Cookie": f"{NAME}={token}"},
    )
    assert response.status_code == 204, response.text
    assert "set-cookie" not in response.headers
    assert (await cookie_refresh(client, token)).status_code == 200  # this session lives on


async def test_a_failed_logout_leaves_the_cookie_alone(client: Client) -> None:
    _, token = await start(client)
    response = await client.post("/auth/logout", headers={"Authorization": "Bearer nope", "Cookie": f"{NAME}={token}"})
    assert_problem(response, 401, "invalid_token")
    assert "set-cookie" not in response.headers


# -- CORS -------------------------------------------------------------------------------------


async def test_cors_allows_credentials_for_listed_origins(client: Client) -> None:
    _, token = await start(client)
    preflight = await client.options(
        "/auth/refresh",
        headers={
            "Origin": LISTED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == LISTED
    assert preflight.headers["access-control-allow-credentials"] == "true"
    response = await cookie_refresh(client, token, origin=LISTED, **{"Sec-Fetch-Site": "same-site"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == LISTED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()


async def test_listed_origins_are_read_as_a_browser_writes_them(browser_settings: MakeSettings) -> None:
    """A listed origin in capitals, with a trailing `/` or its default port is the origin a browser
    sends: CORS answers it as the CSRF check accepts it (before, CORS compared the raw text, so
    the cookie rotated while the browser could not read the answer)."""
    settings = browser_settings(cors_origins="HTTPS://Up.Example.COM/,https://app.example.com:443")
    async with AsyncTestClient(create_app(settings=settings)) as client:
        _, token = await start(client)
        for origin in ("https://up.example.com", "https://app.example.com"):
            preflight = await client.options(
                "/auth/refresh",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert preflight.status_code == 204, preflight.text
            assert preflight.headers["access-control-allow-origin"] == origin
            response = await cookie_refresh(client, token, origin=origin, **{"Sec-Fetch-Site": "cross-site"})
            assert response.status_code == 200, response.text
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["access-control-allow-credentials"] == "true"
            token = cookie_from(response)


async def test_unlisted_origins_get_no_cors_headers(client: Client) -> None:
    body, _ = await start(client)
    for origin in ("https://evil.example", OWN_ORIGIN):  # same-origin requests need none either
        simple = await client.get("/auth/me", headers={**bearer(body), "Origin": origin})
        assert simple.status_code == 200
        refused = await client.post("/auth/refresh", json={"refresh_token": "x"}, headers={"Origin": origin})
        assert refused.status_code == 401
        preflight = await client.options(
            "/auth/refresh",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        for response in (simple, refused, preflight):
            cors = [name for name in response.headers if name.lower().startswith("access-control-")]
            assert cors == [], (origin, response.status_code, response.headers)
        assert preflight.status_code == 400  # refused, as a problem document (issue 11)
        assert preflight.json()["code"] == "validation_error"
