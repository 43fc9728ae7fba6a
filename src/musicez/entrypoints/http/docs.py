"""The interactive API page, served entirely by the service itself (no CDN)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIType, Schema
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from musicez.domain.errors import (
    ClientError,
    HashingBusy,
    InsufficientScope,
    InvalidApiKey,
    InvalidToken,
    MissingCredentials,
    RateLimited,
    ServiceUnavailable,
    TokenExpired,
    TokenRevoked,
    UserTokenRequired,
    ValidationFailed,
    WeakPassword,
)
from musicez.entrypoints.http.guard import PUBLIC
from musicez.entrypoints.http.problems import PROBLEM_JSON, STATUS_CODES
from musicez.entrypoints.http.schemas import Problem
from musicez.entrypoints.http.statuses import status_of

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_URL = "/schema/assets"


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    return [
        SwaggerRenderPlugin(
            path="/",
            js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_URL}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
            favicon=f'<link rel="icon" type="image/png" href="{ASSETS_URL}/favicon-32x32.png">',
        )
    ]


def docs_static_router() -> Router:
    return create_static_files_router(
        path=ASSETS_URL, directories=[ASSETS], opt=PUBLIC, include_in_schema=False, name="docs-assets"
    )


# -- problem responses in the OpenAPI document -----------------------------------------
# Litestar documents only the success response and its own 400 shape (application/json); every
# error here is an RFC 9457 problem document. What a route can answer is derived once, when the
# app is built: what every route of its kind answers (from its body, its parameters and the
# guard's `opt` keys), plus the errors its handler declares next to it, `opt={"raises": (...)}`.
# `"raises": None` says the route answers no problem document at all.

RAISES = "raises"
NO_PROBLEMS: dict[str, Any] = {RAISES: None}
_Entry = tuple[int, str, str]  # status, code, and what the document says of it ("" for nothing)

# What the wire adds to an error (a header, a field), where its title alone would not say it.
_NOTES: dict[type[Exception], str] = {
    WeakPassword: "with every failed rule in `errors`",
    RateLimited: "with Retry-After (seconds)",
    HashingBusy: "every password hasher is busy (with Retry-After, seconds)",
}
_CREDENTIALS = (MissingCredentials, InvalidToken, TokenExpired, TokenRevoked, InvalidApiKey)
_NOT_PARAMETERS = {"data", "request", "state", "scope", "headers", "cookies"}


def _entry(error: type[Exception], note: str | None = None) -> _Entry:
    status = status_of(error)
    code, title = (error.code, error.title) if issubclass(error, ClientError) else STATUS_CODES[status]
    if note is None:
        note = _NOTES.get(error) or title[:1].lower() + title[1:]
    return status, code, note


def _common(handler: HTTPRouteHandler) -> list[_Entry]:
    """What any route like this one can answer: an outage, a bad body or parameter, the guard's refusals."""
    opt, parameters = handler.opt, set(handler.parsed_fn_signature.parameters)
    found = [_entry(ServiceUnavailable, "the database or the session store is unreachable")]
    if "data" in parameters:
        media_type = "application/x-www-form-urlencoded" if opt.get("form_body") else "application/json"
        found += [
            _entry(ValidationFailed, "a field is missing, of the wrong type or malformed"),
            (413, STATUS_CODES[413][0], ""),
            (415, STATUS_CODES[415][0], f"send the body as {media_type}"),
        ]
    elif parameters - _NOT_PARAMETERS:
        # Litestar documents its own 400 body (application/json) for any route with parameters;
        # what is really sent is a problem document.
        found.append(_entry(ValidationFailed, "a path or query parameter is malformed"))
    if not _public(handler):
        found += [_entry(error, "") for error in _CREDENTIALS]
        found.append(_entry(RateLimited))
    if opt.get("user_only"):
        found.append(_entry(UserTokenRequired, "an API key cannot use this route"))
    if scope := opt.get("scope"):
        found.append(_entry(InsufficientScope, f"an {scope} API key is needed"))
    return found


def _public(handler: HTTPRouteHandler) -> bool:
    return bool(handler.opt.get("public")) and not handler.opt.get("checks_own_credentials")


def problem_statuses(handler: HTTPRouteHandler) -> dict[int, str]:
    """Which problem documents a route can answer, each described by the codes it carries."""
    raises = handler.opt.get(RAISES, ())
    if raises is None:
        return {}
    notes: dict[int, dict[str, dict[str, None]]] = {}  # status -> code -> notes, in order, once each
    for status, code, note in [*_common(handler), *(_entry(error) for error in raises)]:
        notes.setdefault(status, {}).setdefault(code, {})[note] = None
    return {
        status: "; ".join(_described(code, said) for code, said in codes.items())
        for status, codes in sorted(notes.items())
    }


def _described(code: str, notes: Iterable[str]) -> str:
    said = ", or ".join(note for note in notes if note)
    if not said:
        return code
    return f"{code}, {said}" if said.startswith("with ") else f"{code}: {said}"


def documented_operations(app: Litestar) -> list[tuple[str, HTTPRouteHandler]]:
    """The app's documented route handlers, each with its route's full path. Read once the app is
    built: by then Litestar has merged each router's `opt`, tags and security into its handlers,
    and it builds the document from these same handlers at the first request for it."""
    return [
        (route.path, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.resolve_include_in_schema()
    ]


def declare_problem_responses(handlers: Iterable[HTTPRouteHandler]) -> None:
    """Add the problem responses to each handler's documented responses (its own win), and mark
    public routes as such: Litestar drops a route's empty `security=[]`, so the document-wide
    requirement would apply; `[{}]` says "no credential needed"."""
    for handler in handlers:
        if _public(handler):
            handler.security = [{}]
        declared = {
            status: ResponseSpec(
                data_container=Problem, generate_examples=False, description=description, media_type=PROBLEM_JSON
            )
            for status, description in problem_statuses(handler).items()
        }
        handler.responses = {**declared, **(handler.responses or {})}


# -- a nullable string's constraints on the string itself ------------------------------------
# Litestar writes a nullable field as `{"oneOf": [{"type": "string"}, {"type": "null"}],
# "maxLength": 200}`: valid JSON Schema (the keyword applies to strings only), but a reader that
# looks at each `"type": "string"` (a client generator, a checker of "a maxLength on every
# string", API.md Hardening v1.1) sees an unbounded string. The string branch gets them too.
_STRING_KEYWORDS = ("max_length", "min_length", "pattern", "format")


def _bound_nullable_strings(node: Any, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Schema) and node.one_of:
        for option in node.one_of:
            if isinstance(option, Schema) and option.type == OpenAPIType.STRING:
                for keyword in _STRING_KEYWORDS:
                    if getattr(option, keyword) is None and getattr(node, keyword) is not None:
                        setattr(option, keyword, getattr(node, keyword))
    if isinstance(node, dict):
        children: Iterable[Any] = node.values()
    elif isinstance(node, list | tuple):
        children = node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        children = (getattr(node, f.name) for f in dataclasses.fields(node))
    else:
        return
    for child in children:
        _bound_nullable_strings(child, seen)


class _BoundingOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, building the same document, then bounding its nullable strings."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        document = super()._build_openapi()
        _bound_nullable_strings(document, set())
        return document


def bound_nullable_strings(app: Litestar) -> None:
    """Have the document built with each nullable string's constraints on its string branch too.
    Litestar builds the document at its first request, in its plugin (slotted, made by the app):
    the app's plugin becomes the subclass above, which adds nothing but the step after the build
    (the registry keeps it under `OpenAPIPlugin`). `test_hardening_openapi.py` pins the result."""
    plugin = app.plugins.get(OpenAPIPlugin)
    if type(plugin) is OpenAPIPlugin:
        plugin.__class__ = _BoundingOpenAPIPlugin
