"""What runs before every handler: the guard, then the body's content-type check.

One `before_request` hook for the whole app (a route that declared its own would replace it,
so none does). It is not a Litestar guard: Litestar hands each guard a fresh copy of the route
handler (~10 µs a request, more than the whole cached authentication), and a hook is called
with the request alone. The order is a guard's: a request without a credential is 401 before
anything looks at its body.

What a route asks for is read from its `opt` and signature once, on its first request, and
kept in its `opt` (one entry per route handler, Litestar's automatic OPTIONS ones included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dishka.integrations.base import is_dishka_injected
from litestar import Request
from litestar.handlers import BaseRouteHandler

from musicez.entrypoints.http.client_address import note_client
from musicez.entrypoints.http.guard import RouteRule, require_credentials
from musicez.entrypoints.http.outer_middleware import attach_request_container
from musicez.entrypoints.http.routes.common import require_json
from musicez.entrypoints.http.state import AppState

_PLAN = "musicez.plan"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    guard: RouteRule
    json_body: bool  # takes a body that must be JSON (POST /auth/introspect takes a form, RFC 7662)
    optional_body: bool
    injected: bool  # dishka resolves some of its parameters: it needs a request container

    @classmethod
    def of(cls, handler: BaseRouteHandler) -> RoutePlan:
        opt = handler.opt
        takes_body = "data" in handler.parsed_fn_signature.parameters
        return cls(
            RouteRule.of(opt),
            takes_body and not opt.get("form_body"),
            bool(opt.get("optional_body")),
            is_dishka_injected(handler.fn),
        )


def before_every_request(state: AppState) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The app's hook, holding the app's state (no `app.state` lookup per request)."""
    app_level: dict[Any, bool] = {}  # (type, component) -> whether the app container provides it

    async def before_request(request: Request[Any, Any, Any]) -> None:
        handler = request.route_handler
        plan: RoutePlan | None = handler.opt.get(_PLAN)
        if plan is None:
            plan = handler.opt[_PLAN] = RoutePlan.of(handler)
        note_client(request, state)  # security events of every route carry the client id (issue 11)
        await require_credentials(request, plan.guard, state)
        if plan.json_body:
            require_json(request, plan.optional_body)
        if plan.injected:  # last: a request refused above never makes one
            attach_request_container(request.scope, state.container, app_level)  # type: ignore[arg-type]

    return before_request
