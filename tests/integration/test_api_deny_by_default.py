"""Deny by default: every registered route and method answers 401 to an anonymous request,
unless API.md lists it as public."""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

import pytest
from litestar import Litestar, get
from litestar.exceptions import ImproperlyConfiguredException
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.hooks import RoutePlan, specialise_hooks
from musicez.entrypoints.http.state import AppState
from tests.support.api import assert_problem

Client = AsyncTestClient[Litestar]

# (method, path template) pairs that API.md makes public. Nothing else may answer anonymously.
PUBLIC = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/password/forgot"),
    ("POST", "/auth/password/reset"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/auth/not-me"),  # v1.1: the link's token is the credential
}
PUBLIC_PREFIX = "/schema"  # GET /schema and everything under /schema/


def is_public(method: str, template: str) -> bool:
    # Litestar's automatic OPTIONS answers only state `Allow`, like a 405 does: public.
    if (method, template) in PUBLIC or method == "OPTIONS":
        return True
    return template == PUBLIC_PREFIX or template.startswith(PUBLIC_PREFIX + "/")


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)


def every_route(app: Litestar) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                found.append((method, route.path))
    return found


async def test_the_walk_sees_the_whole_contract(client: Client) -> None:
    templates = {(m, re.sub(r"\{[^}]+\}", "{id}", p)) for m, p in every_route(client.app)}
    for expected in (
        ("POST", "/auth/logout"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/logout-others"),
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions/{id}"),
        ("GET", "/auth/me"),
        ("POST", "/auth/password/change"),
        ("GET", "/health"),
        *PUBLIC,
    ):
        assert expected in templates, expected


async def test_every_non_public_route_refuses_anonymous_requests(client: Client) -> None:
    checked = []
    for method, template in every_route(client.app):
        if is_public(method, template):
            continue
        path = concrete(template)
        kwargs: dict[str, Any]
        for kwargs in ({}, {"json": {}}, {"headers": {"X-Forwarded-For": "127.0.0.1"}}):
            if method in ("GET", "HEAD", "OPTIONS", "DELETE") and "json" in kwargs:
                continue
            response = await client.request(method, path, **kwargs)
            if method == "HEAD":
                assert response.status_code == 401, (method, path)
                continue
            assert_problem(response, 401, "missing_credentials")
            assert response.headers["www-authenticate"].startswith("Bearer")
        checked.append((method, template))
    assert len(checked) >= 9, checked


async def test_public_routes_answer_anonymously(client: Client) -> None:
    for method, template in every_route(client.app):
        if method != "GET" or not is_public(method, template) or "{" in template:
            continue
        response = await client.get(template)
        assert response.status_code == 200, (template, response.status_code)


async def test_options_states_allow_with_or_without_credentials(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "mez_nope"}):
        for path in ("/auth/login", "/auth/me"):
            response = await client.options(path, headers=headers)
            assert response.status_code == 204, (path, headers, response.text)
            assert "allow" in response.headers
            assert "ratelimit-limit" not in response.headers


async def test_a_route_registered_after_the_app_was_made_is_guarded_too(client: Client) -> None:
    """`specialise_hooks` gives the routes it sees their own hooks when the app is made; any other
    route keeps the app's hook, so it is guarded like the rest."""

    @get("/late-route", sync_to_thread=False)
    def late() -> dict[str, bool]:
        return {"ok": True}

    client.app.register(late)
    response = await client.get("/late-route")
    assert_problem(response, 401, "missing_credentials")


async def test_only_routes_whose_hook_would_do_nothing_go_without_one(client: Client) -> None:
    without_hook = set()
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.resolve_before_request() is not None:
                continue
            plan = RoutePlan.of(handler)
            methods = set(handler.http_methods)
            assert plan.guard.public or methods == {"OPTIONS"}, route.path
            assert not plan.json_body, route.path
            assert not plan.injected, route.path
            without_hook |= {(method, route.path) for method in methods}
    assert ("GET", "/health/live") in without_hook
    assert ("GET", "/auth/me") not in without_hook
    assert ("POST", "/auth/login") not in without_hook  # takes a JSON body


def test_a_route_or_router_with_its_own_hook_is_refused_when_the_app_is_made() -> None:
    """One hook for the whole app: a route's own `before_request` would replace the guard (or be
    replaced by it), so an app with one does not start."""

    async def own_hook(request: Any) -> None:
        return None

    @get("/own-hook", before_request=own_hook, sync_to_thread=False)
    def handler() -> dict[str, bool]:
        return {"ok": True}

    async def app_hook(request: Any) -> None:
        return None

    app = Litestar(route_handlers=[handler], before_request=app_hook)
    with pytest.raises(ImproperlyConfiguredException, match="before_request"):
        specialise_hooks(app, cast(AppState, object()))
