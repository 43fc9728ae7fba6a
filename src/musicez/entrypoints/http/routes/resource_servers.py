"""Protecting other services: forward-auth (`/auth/verify`) and RFC 7662 introspection."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.openapi.spec import Example
from litestar.params import Body, ParameterKwarg

from musicez.application.introspect import IntrospectToken
from musicez.domain.errors import ClientError, MissingCredentials
from musicez.domain.principal import ApiKeyPrincipal, UserPrincipal
from musicez.domain.redaction import hide_secrets
from musicez.entrypoints.http import samples
from musicez.entrypoints.http.client_address import is_trusted
from musicez.entrypoints.http.guard import current_principal
from musicez.entrypoints.http.problems import client_error
from musicez.entrypoints.http.routes.common import has_no_body
from musicez.entrypoints.http.schemas import IntrospectionOut, Problem, doc
from musicez.entrypoints.logs import log_safe

log = logging.getLogger("musicez.http")

TAGS = ["resource servers"]
FORM_BODY = {"form_body": True}  # the one route that takes a form (RFC 7662), exempt from require_json
_INACTIVE = IntrospectionOut(active=False)
_FORWARDED_MAX = 256


INTROSPECTED_TOKEN_MAX_LENGTH = 4096  # access tokens are under 1 KiB, refresh tokens 118 characters
# RFC 6749, Appendix A.12: an access token is VSCHARs (%x20-7E).
INTROSPECTED_TOKEN_PATTERN = r"^[\x20-\x7E]*$"


@hide_secrets
class IntrospectionForm(msgspec.Struct, frozen=True):
    # Documented, not enforced: a longer or stranger token is `{"active": false}` like any bad one
    # (API.md: never an error for a bad token), up to what the body limit holds (then 413). The
    # bounds are what keeps every form the document calls valid inside MUSICEZ_MAX_BODY_SIZE at its
    # default: 4096 VSCHARs are at most 12 KiB form-encoded (`%22` for `"`), where 4096 characters
    # of any kind could take 48 KiB (an emoji is 12 bytes encoded).
    token: Annotated[
        str,
        ParameterKwarg(
            max_length=INTROSPECTED_TOKEN_MAX_LENGTH,
            pattern=INTROSPECTED_TOKEN_PATTERN,
            description="The access token to check (RFC 7662 `token`)",
            examples=[Example(value=samples.ACCESS_TOKEN)],
        ),
    ] = ""
    token_type_hint: (
        Annotated[
            str,
            doc(
                "RFC 7662 `token_type_hint`; optional, as only access tokens are checked", "access_token", max_length=64
            ),
        ]
        | None
    ) = None


def _from_trusted_proxy(request: Request[Any, Any, Any]) -> bool:
    return is_trusted(request.client.host if request.client else "", request.app.state.musicez.trusted_networks)


def forwarded_path(uri: str) -> str:
    """The path of an X-Forwarded-Uri, for the log: never its query or fragment (where a token or
    a reset link's secret travels), bounded, and with control characters made harmless."""
    path = uri.split("?", 1)[0].split("#", 1)[0]
    return log_safe(path, _FORWARDED_MAX) or "-"


def _forwarded(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    """X-Forwarded-Method/-Uri, only from a trusted proxy; they are logged (the method and the
    URI's path only), never acted upon."""
    method = request.headers.get("x-forwarded-method")
    uri = request.headers.get("x-forwarded-uri")
    if (method is None and uri is None) or not _from_trusted_proxy(request):
        return None
    return log_safe(method or "-", 16), forwarded_path(uri or "-")


def _verify_refused(request: Request[Any, Any, Any], error: ClientError) -> Response[Problem]:
    """The guard's refusal (401, 403, 429, 503), answered exactly as on every route, and logged as
    a success is when a trusted proxy says what it was for, with the status and the code: never
    the credential or the error's detail."""
    response = client_error(request, error)
    forwarded = _forwarded(request)
    if forwarded is not None:
        log.info("verify for %s %s refused: %s %s", *forwarded, response.status_code, error.code)
    return response


_VERIFY_HEADERS = [
    ResponseHeader(name=name, documentation_only=True, value="", required=False, description=text)  # value: schema
    for name, text in (
        ("X-Auth-Kind", "`user` or `api_key`"),
        ("X-Auth-User-Id", "users: the user id"),
        ("X-Auth-Session-Id", "users: the session id"),
        ("X-Auth-Api-Key-Id", "API keys: the key id"),
        ("X-Auth-Scope", "API keys: `api` or `admin`"),
    )
]


@get(
    "/auth/verify",
    tags=TAGS,
    media_type=MediaType.TEXT,
    response_headers=_VERIFY_HEADERS,
    exception_handlers={ClientError: _verify_refused},  # the guard refuses before the handler runs
    response_description="The credential is good: the principal is in the X-Auth-* headers; the body is empty",
)
async def verify(request: Request[Any, Any, Any]) -> Response[str]:
    """Forward-auth (nginx `auth_request`, Traefik ForwardAuth, Envoy `ext_authz`): 200 with the
    principal in `X-Auth-*` headers, else exactly the guard's 401 / 403 / 429 / 503."""
    principal = current_principal()
    headers: dict[str, str]
    if isinstance(principal, UserPrincipal):
        headers = {
            "X-Auth-Kind": "user",
            "X-Auth-User-Id": str(principal.user_id),
            "X-Auth-Session-Id": str(principal.session_id),
        }
    else:
        headers = {
            "X-Auth-Kind": "api_key",
            "X-Auth-Api-Key-Id": str(principal.key_id),
            "X-Auth-Scope": principal.scope,
        }
    forwarded = _forwarded(request)
    if forwarded is not None:
        log.info("verify for %s %s", *forwarded)
    return Response("", status_code=200, headers=headers, media_type=MediaType.TEXT)


@post("/auth/introspect", opt=FORM_BODY, status_code=200, tags=TAGS, security=[{"ApiKeyAuth": []}])
@inject
async def introspect(
    request: Request[Any, Any, Any],
    use_case: FromDishka[IntrospectToken],
    data: Annotated[IntrospectionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> IntrospectionOut:
    """RFC 7662: is this access token valid and its session alive? `{"active": false}` for anything else."""
    # The guard has checked every credential sent: an X-API-Key that got this far is valid, also
    # next to a user token (when the principal is the user). Without one, introspection is refused.
    if not isinstance(current_principal(), ApiKeyPrincipal) and "x-api-key" not in request.headers:
        raise MissingCredentials("Token introspection is for services: send an API key (X-API-Key)")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != RequestEncodingType.URL_ENCODED.value and not has_no_body(request):
        raise HTTPException(status_code=415, detail="Send the body as application/x-www-form-urlencoded")
    claims = await use_case.execute(data.token) if data.token else None
    if claims is None:
        return _INACTIVE
    return IntrospectionOut(
        active=True,
        token_type="access_token",
        sub=claims.user_id,
        sid=claims.session_id,
        iss=claims.issuer,
        aud=claims.audience,
        iat=int(claims.issued_at.timestamp()) if claims.issued_at else None,
        exp=int(claims.expires_at.timestamp()),
        jti=claims.token_id,
    )
