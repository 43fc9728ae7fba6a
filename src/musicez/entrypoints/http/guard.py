"""The one guard. Every route needs a credential unless it opts out with `opt=PUBLIC`.

It runs as the app's `before_request` hook (`entrypoints/http/hooks.py`), not as a Litestar
guard: Litestar hands each guard a fresh copy of the route handler (tens of attribute copies,
~10 µs a request, more than the whole cached authentication), and a hook is called with the
request alone. The order is the guard's: before the body is read and before the handler.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection

from musicez.application.authenticate import AuthenticateRequest
from musicez.domain.errors import (
    ApiKeyRequired,
    InsufficientScope,
    InvalidApiKey,
    InvalidToken,
    MissingCredentials,
    UserTokenRequired,
)
from musicez.domain.principal import ApiKeyPrincipal, Principal, UserPrincipal, holds_scope
from musicez.entrypoints.http.client_address import client_address

if TYPE_CHECKING:
    from musicez.entrypoints.http.state import AppState

PUBLIC = {"public": True}
USER_ONLY = {"user_only": True}
ADMIN_SCOPE = {"scope": "admin"}  # v1.1: a route that names a scope refuses credentials without it
SCRAPE = {"scrape": True}  # /metrics: the scrape token (MUSICEZ_METRICS_TOKEN) or an API key


def _parse_bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("Use the Bearer scheme: Authorization: Bearer <access token>")
    token = token.strip()
    if not token:
        raise InvalidToken("The bearer token is empty")
    return token


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    return None if header is None else _parse_bearer(header)


def _credential_headers(scope: Any) -> tuple[str | None, str | None]:
    """The `Authorization` and `X-API-Key` values, read straight from the ASGI scope (one pass,
    no header object built per request). A header sent more than once is refused: which copy
    counts would depend on the proxy or framework that reads it (API.md, Hardening v1.1)."""
    authorization = api_key = None
    repeated_authorization = repeated_api_key = False
    for raw_name, value in scope["headers"]:
        name = raw_name.lower()
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
            else:
                repeated_authorization = True
        elif name == b"x-api-key":
            if api_key is None:
                api_key = value.decode("latin-1")
            else:
                repeated_api_key = True
    if repeated_authorization:  # when both are repeated, the token's code (as for two invalid credentials)
        raise InvalidToken("The Authorization header was repeated; send it exactly once")
    if repeated_api_key:
        raise InvalidApiKey("The X-API-Key header was repeated; send it exactly once")
    return authorization, api_key


def require_credentials(
    connection: ASGIConnection[Any, Any, Any, Any], rule: RouteRule, state: AppState
) -> Awaitable[None] | None:
    """Authenticate the request unless its route is public, and enforce the route's rule.

    Done here, without a coroutine, when the credential is cached and a unit of its limit is held
    (None: the steady state); else the awaitable that finishes the job (a read, a lease)."""
    scope = connection.scope
    # Litestar's automatic OPTIONS handlers only state `Allow`: as public as a 405 is.
    if rule.public or scope.get("method") == "OPTIONS":
        return None
    authorization, api_key = _credential_headers(scope)
    token = None if authorization is None else _parse_bearer(authorization)
    # API-key failures are budgeted per client address (hardening, issue 11)
    client = None if api_key is None else client_address(connection, state.trusted_networks, state.ipv6_client_prefix)
    authenticate: AuthenticateRequest = state.authenticate
    if rule.scrape:
        return _authorise_scrape(authenticate, state.settings.metrics_token, token, api_key, client)
    principal = authenticate.execute_nowait(token, api_key, client)
    if principal is None:
        return _authenticate(authenticate, rule, token, api_key, client)
    _admit(principal, rule)
    return None


async def _authenticate(
    authenticate: AuthenticateRequest, rule: RouteRule, token: str | None, api_key: str | None, client: str | None
) -> None:
    _admit(await authenticate.execute(token, api_key, client), rule)


def _admit(principal: Principal, rule: RouteRule) -> None:
    """The route's rule for an authenticated principal; the principal kept for the handler."""
    if rule.user_only and not isinstance(principal, UserPrincipal):
        raise UserTokenRequired()
    required = rule.scope
    if required is not None and not holds_scope(principal, required):
        raise InsufficientScope(f"This route needs the `{required}` scope")
    _principal.set(principal)


async def _authorise_scrape(
    authenticate: AuthenticateRequest, expected: str | None, token: str | None, api_key: str | None, client: str | None
) -> None:
    """A scrape: `Authorization: Bearer <MUSICEZ_METRICS_TOKEN>` when that is set, or an API key (a
    service, like Prometheus) checked as on any route; a user token gets 403. No principal is kept
    for the handler, so the answer is not marked `no-store` (as before the rule moved here)."""
    if expected and token is not None and hmac.compare_digest(token.encode(), expected.encode()):
        return
    try:
        principal = await authenticate.execute(token, api_key, client)
    except InvalidToken as error:
        if type(error) is not InvalidToken:  # expired or revoked: a real access token, say so
            raise
        raise InvalidToken(
            "The bearer token is not the metrics token (MUSICEZ_METRICS_TOKEN); /metrics takes that token or an API key"
        ) from None
    if not isinstance(principal, ApiKeyPrincipal):
        raise ApiKeyRequired()


@dataclass(frozen=True, slots=True)
class RouteRule:
    """What the guard asks of one route, read once from its `opt` (not on every request)."""

    public: bool
    user_only: bool
    scope: str | None
    scrape: bool = False

    @classmethod
    def of(cls, opt: Mapping[str, Any]) -> RouteRule:
        required = opt.get("scope")
        return cls(
            bool(opt.get("public")),
            bool(opt.get("user_only")),
            None if required is None else str(required),
            bool(opt.get("scrape")),
        )


# The principal the guard authenticated, for the handler of the same request. A context variable
# rather than connection state: a handler that reads it needs no `request` parameter, which
# Litestar resolves per request (~4 µs on the guarded hot path, issue 12). Every guarded route's
# guard sets it before its handler runs, or refuses the request.
_principal: ContextVar[Principal | None] = ContextVar("musicez_principal", default=None)
REQUEST_PRINCIPAL = _principal  # the outer middleware clears it per request and reads it for `Cache-Control`


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:  # pragma: no cover - only a public route could get here, and none asks
        raise MissingCredentials()
    return principal


def current_user() -> UserPrincipal:
    principal = current_principal()
    if not isinstance(principal, UserPrincipal):  # the guard enforces this on USER_ONLY routes
        raise UserTokenRequired()
    return principal
