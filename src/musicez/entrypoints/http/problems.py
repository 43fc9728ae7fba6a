"""Every error as an RFC 9457 problem document with the stable `code` of API.md."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)

from musicez.domain.errors import (
    ClientError,
    HashingBusy,
    InvalidApiKey,
    InvalidToken,
    MissingCredentials,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from musicez.entrypoints.http.schemas import FieldErrorOut, Problem
from musicez.entrypoints.http.statuses import BY_CLASS, status_of
from musicez.entrypoints.logs import log_safe

log = logging.getLogger("musicez.http")

PROBLEM_JSON = "application/problem+json"
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
REALM = 'realm="musicez"'
_LOGGED_PATH_MAX = 256  # as the forwarded path /auth/verify logs
_LOGGED_METHOD_MAX = 16
# What Litestar's own exceptions answer, by status; where a domain error says the same, its words.
STATUS_CODES = {
    400: (ValidationFailed.code, ValidationFailed.title),
    401: (MissingCredentials.code, MissingCredentials.title),
    404: ("not_found", "No such resource"),
    405: ("method_not_allowed", "Method not allowed on this resource"),
    413: ("payload_too_large", "The request body is too large"),
    415: ("unsupported_media_type", "The request body's media type is not supported"),
    429: (RateLimited.code, RateLimited.title),
    503: (ServiceUnavailable.code, ServiceUnavailable.title),
}
INTERNAL_ERROR = ("internal_error", "Internal server error")  # what an unhandled error answers too


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[FieldErrorOut] | None = None,
    reason: str | None = None,
) -> Response[Problem]:
    body = Problem(
        type=f"urn:musicez:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
        reason=reason,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or {})


def _quoted(text: str) -> str:
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


def challenge(error: ClientError) -> str:
    if isinstance(error, InvalidToken):
        return f'Bearer {REALM}, error="invalid_token", error_description="{_quoted(error.detail)}"'
    if isinstance(error, InvalidApiKey):
        return f'ApiKey {REALM}, error="invalid_api_key", error_description="{_quoted(error.detail)}"'
    return f"Bearer {REALM}"


def client_error(_: Request[Any, Any, Any], error: ClientError) -> Response[Problem]:
    status = BY_CLASS.get(type(error)) or status_of(type(error))
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = challenge(error)
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, HashingBusy):
        headers["Retry-After"] = str(error.retry_after)
    errors = None
    if isinstance(error, ValidationFailed):
        errors = [FieldErrorOut(e.field, e.message) for e in error.errors]
    reason = getattr(error, "reason", None)
    return problem(status, error.code, error.title, error.detail, headers=headers, errors=errors, reason=reason)


def _where(request: Request[Any, Any, Any]) -> tuple[str, str]:
    """The method and path of a request, for a log line: both are the client's, and the path is
    percent-decoded by now (`%0A` is a line break), so bounded and with control characters escaped."""
    return log_safe(request.method, _LOGGED_METHOD_MAX), log_safe(request.url.path, _LOGGED_PATH_MAX)


def validation_error(_: Request[Any, Any, Any], error: ValidationException) -> Response[Problem]:
    errors: list[FieldErrorOut] = []
    for item in error.extra if isinstance(error.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", "is not valid"))
            key = str(item.get("key") or "body")
            if key == "data":  # the body as a whole: name the missing field when there is one
                missing = _MISSING_FIELD.search(message)
                key = missing.group(1) if missing else "body"
                if message == "'data'":  # Litestar's words for an empty body (a KeyError's)
                    message = "is empty: send a JSON object"
            errors.append(FieldErrorOut(key, message))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "The request body is not valid JSON"
    return problem(400, ValidationFailed.code, ValidationFailed.title, detail, errors=errors)


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    status = error.status_code
    known = STATUS_CODES.get(status)
    if known is None and status >= 500:
        # Litestar's own 500s (InternalServerException, ImproperlyConfiguredException): a fault of
        # ours like any unhandled error, so answered and logged like one.
        log.error("unhandled error on %s %s", *_where(request), exc_info=error)
        code, title = INTERNAL_ERROR
    else:  # a 4xx of Litestar's that no code of API.md names (403 from a Litestar guard: none used)
        code, title = known or ("http_error", "Request failed")
    headers = dict((error.headers or {}).items())
    detail = error.detail if error.detail and status < 500 else title
    if isinstance(error, NotFoundException):
        detail = "No such resource"
    if isinstance(error, MethodNotAllowedException):
        detail = "This method is not allowed here"
        headers = {"Allow": (error.headers or {}).get("allow", "")}
    if status == 401:
        headers["WWW-Authenticate"] = f"Bearer {REALM}"
    if status == 413:
        # Refused before the body was read: what is left of it would be taken for the next request
        # on this connection, so the server closes it, and says so, or keep-alive clients would send
        # their next request into a dead connection (a body cut short or too slow says so itself).
        headers["Connection"] = "close"
    # A body that is not JSON at all: validation_error still lists what was wrong (API.md).
    errors = [FieldErrorOut("body", detail)] if code == "validation_error" else None
    return problem(status, code, title, detail, headers=headers, errors=errors)


async def schema_not_found_as_problem(response: Response[Any]) -> Response[Any]:
    """Litestar answers unknown paths under /schema/ with an HTML page; every error is a problem document."""
    if response.status_code == 404:
        return problem(404, "not_found", STATUS_CODES[404][1], "No such resource")
    return response


def unexpected_error_handler(
    describe_outage: Callable[[BaseException], str | None],
) -> Callable[[Request[Any, Any, Any], Exception], Response[Problem]]:
    """`describe_outage`, from the composition root, names a dependency outage that reached this
    layer untranslated (None: it is not one): a 503, not a 500."""

    def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
        detail = describe_outage(error)
        if detail is not None:
            log.warning("dependency outage on %s %s: %s", *_where(request), type(error).__name__)
            return problem(503, "service_unavailable", STATUS_CODES[503][1], detail, headers={"Retry-After": "5"})
        log.exception("unhandled error on %s %s", *_where(request))
        return problem(500, *INTERNAL_ERROR, "Something went wrong on our side")

    return unexpected_error


def exception_handlers(describe_outage: Callable[[BaseException], str | None]) -> dict[type[Exception], Any]:
    return {
        ClientError: client_error,
        ValidationException: validation_error,
        HTTPException: http_error,
        Exception: unexpected_error_handler(describe_outage),
    }
