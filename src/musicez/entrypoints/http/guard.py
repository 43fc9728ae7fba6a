"""The one guard. Every route needs a credential unless it opts out with `opt=PUBLIC`."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from musicez.application.authenticate import AuthenticateRequest
from musicez.domain.errors import InsufficientScope, InvalidApiKey, InvalidToken, UserTokenRequired
from musicez.domain.principal import Principal, UserPrincipal, holds_scope
from musicez.entrypoints.http.client_address import client_address, note_client

PUBLIC = {"public": True}
USER_ONLY = {"user_only": True}
ADMIN_SCOPE = {"scope": "admin"}  # v1.1: a route that names a scope refuses credentials without it
_PRINCIPAL = "musicez.principal"


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


async def require_credentials(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    opt = handler.opt
    scope = connection.scope
    # Litestar's automatic OPTIONS handlers only state `Allow`: as public as a 405 is.
    if opt.get("public") or scope.get("method") == "OPTIONS":
        return
    authenticate: AuthenticateRequest = scope["litestar_app"].state.authenticate
    authorization, api_key = _credential_headers(scope)
    token = None if authorization is None else _parse_bearer(authorization)
    note_client(connection)  # security events of this request carry its client id
    # API-key failures are budgeted per client address (hardening, issue 11)
    client = None if api_key is None else client_address(connection, scope["litestar_app"].state.trusted_networks)
    result = await authenticate.execute(token, api_key, client)
    if opt.get("user_only") and not isinstance(result.principal, UserPrincipal):
        raise UserTokenRequired()
    required = opt.get("scope")
    if required is not None and not holds_scope(result.principal, str(required)):
        raise InsufficientScope(f"This route needs the `{required}` scope")
    scope["state"][_PRINCIPAL] = result.principal


def exempt_public_routes(app: Litestar) -> None:
    """Litestar calls each guard with a fresh copy of the route handler (several µs a request);
    the guard returns at once on public routes, so they are taken off its list. Deny by default
    is unchanged: only handlers that opted out with `opt=PUBLIC` are exempted, and on a Litestar
    that resolved guards differently the guard would simply still run (and still return)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.opt.get("public"):
                guards = handler.resolve_guards()
                handler._resolved_guards = [g for g in guards if g is not require_credentials]


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.scope["state"][_PRINCIPAL]
    return principal


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> UserPrincipal:
    principal = current_principal(connection)
    if not isinstance(principal, UserPrincipal):  # the guard enforces this on USER_ONLY routes
        raise UserTokenRequired()
    return principal
