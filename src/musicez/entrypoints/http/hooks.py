"""What runs before every handler: the guard, then the body's content-type check.

One `before_request` hook for the whole app (a route that declared its own would replace it,
so none does). It is not a Litestar guard: Litestar hands each guard a fresh copy of the route
handler (~10 µs a request, more than the whole cached authentication), and a hook is called
with the request alone. The order is a guard's: a request without a credential is 401 before
anything looks at its body.

What a route asks for is read from its `opt` and signature once and kept in its `opt` (one
entry per route handler, Litestar's automatic OPTIONS ones included). `specialise_hooks` does
that for every route when the app is made and gives each route a hook of its own with the plan
bound in, or none at all where it would do nothing (a public route that takes no body and
resolves nothing per request, like `/health/live`): Litestar then skips the call. The app-level
hook stays the default for any route it did not see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dishka.integrations.base import is_dishka_injected
from litestar import Litestar, Request
from litestar.exceptions import ImproperlyConfiguredException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.types import Empty

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


Hook = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def _plan_of(handler: BaseRouteHandler) -> RoutePlan:
    plan: RoutePlan | None = handler.opt.get(_PLAN)
    if plan is None:
        plan = handler.opt[_PLAN] = RoutePlan.of(handler)
    return plan


def without_empty_values(query: bytes) -> bytes:
    """The query string less its empty parameters (`cursor=`, or a bare `cursor`): an empty value
    is an absent one, as API.md's templates (`?limit=50&cursor=`) and HTML forms send them."""
    return b"&".join(pair for pair in query.split(b"&") if pair.partition(b"=")[2])


def _run_plan(request: Request[Any, Any, Any], plan: RoutePlan, state: AppState) -> Awaitable[None] | None:
    """The plan, without a coroutine when the guard needs no I/O (None); else what finishes it."""
    scope = request.scope
    query = scope["query_string"]
    if query:  # before anything parses it (the route's parameters are read after this hook)
        scope["query_string"] = without_empty_values(query)
    pending = require_credentials(request, plan.guard, state)
    if pending is not None:
        return _after_guard(pending, request, plan, state)
    _past_guard(request, plan, state)
    return None


async def _after_guard(
    pending: Awaitable[None], request: Request[Any, Any, Any], plan: RoutePlan, state: AppState
) -> None:
    await pending
    _past_guard(request, plan, state)


def _past_guard(request: Request[Any, Any, Any], plan: RoutePlan, state: AppState) -> None:
    if plan.json_body:
        require_json(request, plan.optional_body)
    if plan.injected:  # last: a request refused above never makes one
        attach_request_container(request.scope, state.container, state.app_level)  # type: ignore[arg-type]


def before_every_request(state: AppState) -> Hook:
    """The app's hook, holding the app's state (no `app.state` lookup per request): the default
    for a route `specialise_hooks` did not give its own."""

    async def before_request(request: Request[Any, Any, Any]) -> None:
        pending = _run_plan(request, _plan_of(request.route_handler), state)
        if pending is not None:
            await pending

    return before_request


def _does_nothing(plan: RoutePlan, handler: HTTPRouteHandler) -> bool:
    # Litestar's automatic OPTIONS handlers only state `Allow`: the guard lets them through
    public = plan.guard.public or set(handler.http_methods) == {"OPTIONS"}
    return public and not plan.json_body and not plan.injected


def _own_hook(plan: RoutePlan, state: AppState) -> Hook:
    async def before_request(request: Request[Any, Any, Any]) -> None:
        pending = _run_plan(request, plan, state)
        if pending is not None:
            await pending

    return before_request


def specialise_hooks(app: Litestar, state: AppState) -> None:
    """Every route's plan, read now; each route gets a hook with its plan bound in, or none
    where the plan asks for nothing. Only before the first request (Litestar resolves a route's
    hook once, on its first request)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            own = [layer for layer in handler.ownership_layers if layer.before_request and layer is not app]
            if own:  # it would replace the guard, or be replaced here: one hook for the whole app
                raise ImproperlyConfiguredException(f"{handler}: routes and routers take no before_request hook")
            plan = _plan_of(handler)
            if _does_nothing(plan, handler):
                # No public API says "no hook on this route" when the app has one: Litestar keeps
                # its resolution here (`resolve_before_request`). A layout without it keeps the
                # app's hook, which does the same work, only dearer.
                if getattr(handler, "_resolved_before_request", None) is Empty:
                    handler._resolved_before_request = None  # noqa: SLF001
            else:
                handler.before_request = _own_hook(plan, state)
