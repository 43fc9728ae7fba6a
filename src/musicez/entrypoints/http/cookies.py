"""Browser mode (API.md v1.1): the refresh token travels in an HttpOnly cookie, out of reach of
the page's JavaScript, instead of in the token response."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec

from musicez.domain.errors import ClientError, FieldError, ValidationFailed
from musicez.entrypoints.http.csrf import require_allowed_origin
from musicez.entrypoints.http.problems import client_error
from musicez.entrypoints.http.schemas import RefreshTokenTransport, TokenResponse
from musicez.entrypoints.settings import Settings

_ATTRIBUTES = "Secure; HttpOnly; SameSite=Strict"

# The documented 204 of the routes that end a session (Litestar would document `Response[None]`
# as a JSON null).
ENDED_RESPONSES = {
    204: ResponseSpec(
        data_container=None,
        description="The session ended; when the request carried the refresh cookie, `Set-Cookie` clears it",
    )
}


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.musicez.settings
    return settings


def set_cookie_header(settings: Settings, token: str, max_age: int) -> str:
    return (
        f"{settings.refresh_cookie_name}={token}; Path={settings.refresh_cookie_path}; Max-Age={max_age}; {_ATTRIBUTES}"
    )


def clear_cookie_header(settings: Settings) -> str:
    return f"{settings.refresh_cookie_name}=; Path={settings.refresh_cookie_path}; Max-Age=0; {_ATTRIBUTES}"


def _sent_cookie(request: Request[Any, Any, Any]) -> str | None:
    """The refresh cookie's value ("" when sent empty), None when the request did not carry it.
    With several of that name the first counts: browsers send the one with the longest path
    (ours) first."""
    name = _settings(request).refresh_cookie_name
    for key, header in request.scope["headers"]:
        if key.lower() != b"cookie":
            continue
        for pair in header.decode("latin-1").split(";"):
            cookie_name, equals, value = pair.strip().partition("=")
            if equals and cookie_name.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return value
    return None


def refresh_cookie(request: Request[Any, Any, Any]) -> str | None:
    """The refresh token in the request's cookie, if it carried a non-empty one."""
    return _sent_cookie(request) or None


def token_response(
    request: Request[Any, Any, Any], body: TokenResponse, transport: RefreshTokenTransport, status_code: int
) -> Response[TokenResponse]:
    """The token response in the chosen transport: in cookie mode the refresh token leaves the
    body for a `Set-Cookie` that lives as long as the token does."""
    if transport != "cookie" or isinstance(body.refresh_token, msgspec.UnsetType):
        return Response(body, status_code=status_code)
    cookie = set_cookie_header(_settings(request), body.refresh_token, body.refresh_expires_in)
    return Response(
        msgspec.structs.replace(body, refresh_token=msgspec.UNSET),
        status_code=status_code,
        headers={"Set-Cookie": cookie},
    )


def refresh_credential(
    request: Request[Any, Any, Any], from_body: str | msgspec.UnsetType
) -> tuple[str, RefreshTokenTransport]:
    """The refresh token to rotate and how it came: the body's wins over the cookie; a cookie
    must come from an allowed origin (CSRF), checked before anything is looked up."""
    if not isinstance(from_body, msgspec.UnsetType):
        return from_body, "body"
    cookie = refresh_cookie(request)
    if cookie is None:
        message = "Send refresh_token in the body, or the refresh cookie (browser mode)"
        raise ValidationFailed(f"refresh_token: {message}", [FieldError("refresh_token", message)])
    require_allowed_origin(request, _settings(request))
    return cookie, "cookie"


def refused(request: Request[Any, Any, Any], error: ClientError) -> Response[Any]:
    """A refresh from the cookie refused for good (401 `invalid_refresh_token`: unknown, expired or
    ended; `refresh_token_reused`): the problem document, clearing the cookie. Kept, the browser
    would present the dead token on every page load, each one a failure charged to its address's
    refresh failure budget. A 429, a 503 or a 403 `csrf_rejected` leave it: it may still work."""
    response = client_error(request, error)
    response.headers["Set-Cookie"] = clear_cookie_header(_settings(request))
    return response


def ended(request: Request[Any, Any, Any]) -> Response[None]:
    """204 for a route that ended the session: it clears the refresh cookie if one was sent."""
    if _sent_cookie(request) is None:
        return Response(None, status_code=204)
    return Response(None, status_code=204, headers={"Set-Cookie": clear_cookie_header(_settings(request))})
