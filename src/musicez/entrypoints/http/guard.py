"""The one guard. Every route needs a credential unless it opts out with `opt=PUBLIC`."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from musicez.application.authenticate import AuthenticateRequest
from musicez.domain.errors import InvalidToken, UserTokenRequired
from musicez.domain.principal import Principal, UserPrincipal

PUBLIC = {"public": True}
USER_ONLY = {"user_only": True}
_PRINCIPAL = "musicez.principal"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("Use the Bearer scheme: Authorization: Bearer <access token>")
    token = token.strip()
    if not token:
        raise InvalidToken("The bearer token is empty")
    return token


async def require_credentials(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if handler.opt.get("public"):
        return
    authenticate: AuthenticateRequest = connection.app.state.authenticate
    token = bearer_token(connection)
    result = await authenticate.execute(token, connection.headers.get("x-api-key"))
    if handler.opt.get("user_only") and not isinstance(result.principal, UserPrincipal):
        raise UserTokenRequired()
    connection.scope["state"][_PRINCIPAL] = result.principal


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.scope["state"][_PRINCIPAL]
    return principal


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> UserPrincipal:
    principal = current_principal(connection)
    if not isinstance(principal, UserPrincipal):  # the guard enforces this on USER_ONLY routes
        raise UserTokenRequired()
    return principal
