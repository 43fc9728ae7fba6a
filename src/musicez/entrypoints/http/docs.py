"""The interactive API page, served entirely by the service itself (no CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from musicez.entrypoints.http.guard import PUBLIC
from musicez.entrypoints.http.schemas import Problem

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
# error here is an RFC 9457 problem document, so each route declares the ones it can answer.

PROBLEM_JSON = "application/problem+json"
_CREDENTIAL_CODES = "missing_credentials, invalid_token, token_expired, token_revoked or invalid_api_key"
_COMMON = {
    400: "validation_error: a field is missing, of the wrong type or malformed",
    413: "payload_too_large",
    415: "unsupported_media_type: send the body as application/json",
    429: "rate_limited, with Retry-After (seconds)",
    503: "service_unavailable: the database or the session store is unreachable",
}
_HASHING_503 = {
    503: "service_unavailable: the database or the session store is unreachable, or every password hasher is "
    "busy (with Retry-After, seconds)"
}
_BY_ROUTE: dict[str, dict[int, str]] = {
    "/auth/register": {409: "email_taken", 422: "weak_password, with every failed rule in `errors`", **_HASHING_503},
    "/auth/login": {
        401: "invalid_credentials: unknown email or wrong password (the same answer)",
        403: "account_disabled: the right password of a disabled account",
        **_HASHING_503,
    },
    "/auth/refresh": {
        401: "invalid_refresh_token or refresh_token_reused",
        403: "csrf_rejected: the refresh cookie was sent from an origin that may not use it",
    },
    "/auth/password/reset": {
        400: "validation_error, or invalid_reset_token (unknown, used or expired)",
        422: "weak_password, with every failed rule in `errors`",
        **_HASHING_503,
    },
    "/auth/password/change": {
        400: "validation_error, or invalid_current_password",
        422: "weak_password, with every failed rule in `errors`",
        **_HASHING_503,
    },
    "/auth/sessions/{session_id:str}": {404: "session_not_found"},
    "/.well-known/jwks.json": {404: "not_found: tokens are signed with a shared secret (HS256)"},
    # v1.1: account administration and resource servers
    "/admin/users/{user_id:str}": {404: "user_not_found: unknown or malformed id"},
    "/admin/users/{user_id:str}/disable": {404: "user_not_found: unknown or malformed id"},
    "/admin/users/{user_id:str}/enable": {404: "user_not_found: unknown or malformed id"},
    "/admin/users/{user_id:str}/logout": {404: "user_not_found: unknown or malformed id"},
    "/auth/introspect": {
        401: "missing_credentials (send an API key), invalid_api_key, or a rejected bearer",
        415: "unsupported_media_type: send the body as application/x-www-form-urlencoded",
    },
}
_THROTTLED_PUBLIC = {"/auth/register", "/auth/login", "/auth/password/forgot"}
_THROTTLED_PUBLIC |= {"/auth/refresh", "/auth/password/reset"}  # v1.1: failures are budgeted per client address
_PARAMETER_400 = "validation_error: a path or query parameter is malformed"
_NOT_PARAMETERS = {"data", "request", "state", "scope", "headers", "cookies"}
_NOT_PROBLEMS = {"/health/live"}


def problem_statuses(
    path: str, public: bool, user_only: bool, has_body: bool, has_parameters: bool = False
) -> dict[int, str]:
    """Which problem documents a route can answer, each with the codes it carries."""
    if path in _NOT_PROBLEMS:
        return {}
    found: dict[int, str] = {503: _COMMON[503]}
    if has_body:
        found[400] = _COMMON[400]
        found[413] = _COMMON[413]
        found[415] = _COMMON[415]
    if has_parameters and 400 not in found:
        # Litestar documents its own 400 body (application/json) for any route with parameters;
        # what is really sent is a problem document.
        found[400] = _PARAMETER_400
    if not public:
        found[401] = _CREDENTIAL_CODES
        found[429] = _COMMON[429]
    if public and path in _THROTTLED_PUBLIC:
        found[429] = _COMMON[429]
    if user_only:
        found[403] = "user_token_required: an API key cannot use this route"
    found.update(_BY_ROUTE.get(path, {}))
    return dict(sorted(found.items()))


def declare_problem_responses(handlers: list[Any]) -> None:
    """Add the problem responses to each handler's documented responses (its own win), and mark
    public routes as such: Litestar drops a route's empty `security=[]`, so the document-wide
    requirement would apply; `[{}]` says "no credential needed"."""
    for handler in handlers:
        public = bool(handler.opt.get("public")) and not handler.opt.get("checks_own_credentials")
        if public:
            handler.security = [{}]
        statuses = problem_statuses(
            next(iter(handler.paths), ""),
            public=public,
            user_only=bool(handler.opt.get("user_only")),
            has_body="data" in handler.parsed_fn_signature.parameters,
            has_parameters=bool(set(handler.parsed_fn_signature.parameters) - _NOT_PARAMETERS),
        )
        if handler.opt.get("scope"):  # v1.1: a route that names a scope
            statuses = dict(sorted({**statuses, 403: "insufficient_scope: an admin API key is needed"}.items()))
        declared = {
            status: ResponseSpec(
                data_container=Problem, generate_examples=False, description=description, media_type=PROBLEM_JSON
            )
            for status, description in statuses.items()
        }
        handler.responses = {**declared, **(handler.responses or {})}
