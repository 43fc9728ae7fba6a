"""Security headers on every response (OWASP's REST Security Cheat Sheet): `nosniff`, no framing,
no referrer, a Content-Security-Policy that lets a JSON answer load and run nothing, and the API
reference page only what Swagger UI needs from the service itself; `Strict-Transport-Security`
when the service's public URL is https. Whatever the route, method or outcome, the set is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.http.outer_middleware import security_headers
from tests.support.api import MakeSettings, bearer, register

Client = AsyncTestClient[Litestar]

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def assert_secured(response: object, policy: str = API_POLICY) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    context = (response.request.method, response.request.url, response.status_code)  # type: ignore[attr-defined]
    assert headers.get_list("x-content-type-options") == ["nosniff"], context
    assert headers.get_list("x-frame-options") == ["DENY"], context
    assert headers.get_list("referrer-policy") == ["no-referrer"], context
    assert headers.get_list("content-security-policy") == [policy], context


async def test_answers_of_every_kind_carry_the_security_headers(client: Client) -> None:
    grant = await register(client)
    answers = [
        await client.get("/health/live"),  # public
        await client.get("/auth/me", headers=bearer(grant)),  # authenticated
        await client.get("/auth/me"),  # 401 problem document
        await client.get("/no/such/route"),  # 404 from routing
        await client.delete("/health/live"),  # 405 from routing
        await client.post("/auth/login", content=b"{", headers={"Content-Type": "application/json"}),  # 400
        await client.post("/auth/login", content=b"x", headers={"Content-Type": "text/plain"}),  # 415
    ]
    for response in answers:
        assert_secured(response)
        assert "strict-transport-security" not in response.headers  # no https public URL here


async def test_the_reference_page_may_run_swagger_ui_from_the_service_only(client: Client) -> None:
    page = await client.get("/schema/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert_secured(page, policy)
    assert policy != API_POLICY
    for path in ("/schema/openapi.json", "/schema/assets/swagger-ui.css", "/schema/no-such-page"):
        assert_secured(await client.get(path), policy)  # the page's, by path: never read from an answer
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name].split()[0] == "'self'", name  # no other host, no wildcard
        assert "*" not in directives[name], name
        assert "http" not in directives[name], name


async def test_an_authenticated_answer_still_gets_no_store_once(client: Client) -> None:
    grant = await register(client)
    me = await client.get("/auth/me", headers=bearer(grant))
    assert me.headers.get_list("cache-control") == ["no-store"]
    live = await client.get("/health/live")
    assert "cache-control" not in live.headers


@pytest.fixture
async def https_client(make_settings: MakeSettings) -> AsyncIterator[Client]:
    app = create_app(settings=make_settings(public_url="https://auth.example.com"))
    async with AsyncTestClient(app, base_url="https://auth.example.com") as test_client:
        yield test_client


async def test_an_https_public_url_adds_hsts_to_every_answer(https_client: Client) -> None:
    for response in (await https_client.get("/health/live"), await https_client.get("/auth/me")):
        assert response.headers.get_list("strict-transport-security") == ["max-age=31536000"]
        assert_secured(response)


@pytest.mark.parametrize(
    ("public_url", "hsts"),
    [
        (None, False),
        ("http://auth.example.com", False),
        ("https://auth.example.com", True),
        ("HTTPS://A.example", True),
    ],
)
def test_hsts_follows_the_public_urls_scheme(public_url: str | None, hsts: bool) -> None:
    for headers in security_headers(public_url):  # the API's answers and the reference page's
        names = [name for name, _ in headers]
        assert (b"strict-transport-security" in names) is hsts
        assert names.count(b"content-security-policy") == 1


METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "BREW"])
PATHS = st.one_of(
    st.sampled_from(
        ["/health/live", "/health", "/auth/me", "/auth/login", "/auth/refresh", "/auth/sessions", "/admin/users"]
    ),
    st.text("abcXYZ019-_./%~", max_size=24).map(lambda tail: "/" + tail),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(method=METHODS, path=PATHS, body=st.one_of(st.none(), st.binary(max_size=64)))
async def test_any_request_gets_the_security_headers(
    client: Client, method: str, path: str, body: bytes | None
) -> None:
    response = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (method, path, response.text)
    assert_secured(response)
