"""The HTTP status of every domain error: the domain names a refusal (`code`, `title`), the HTTP
layer decides how it travels. A subclass answers its nearest listed ancestor's status."""

from __future__ import annotations

from litestar.exceptions import HTTPException

from musicez.domain import errors as e

STATUS: dict[type[e.ClientError], int] = {
    e.ClientError: 400,
    e.ValidationFailed: 400,
    e.WeakPassword: 422,
    e.EmailTaken: 409,
    e.InvalidCredentials: 401,
    e.MissingCredentials: 401,
    e.InvalidToken: 401,  # and token_expired, token_revoked
    e.InvalidApiKey: 401,
    e.InvalidRefreshToken: 401,
    e.RefreshTokenReused: 401,
    e.UserTokenRequired: 403,
    e.ApiKeyRequired: 403,
    e.CsrfRejected: 403,
    e.InsufficientScope: 403,
    e.AccountDisabled: 403,
    e.SessionNotFound: 404,
    e.ApiKeyNotFound: 404,
    e.UserNotFound: 404,
    e.InvalidResetToken: 400,
    e.InvalidCurrentPassword: 400,
    e.InvalidSecurityToken: 400,
    e.RateLimited: 429,
    e.ServiceUnavailable: 503,  # and hashing_busy's
}


def status_of(error: type[Exception]) -> int:
    """The status a raised error answers; Litestar's own exceptions carry theirs."""
    for cls in error.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    if issubclass(error, HTTPException):
        return error.status_code
    return 500


def every_error() -> list[type[e.ClientError]]:
    """Every error class of the domain, the most general first."""
    found, pending = [], [e.ClientError]
    while pending:
        error = pending.pop(0)
        found.append(error)
        pending.extend(error.__subclasses__())
    return found


# Resolved once for every class the domain defines: a request pays one dict lookup.
BY_CLASS: dict[type[Exception], int] = {error: status_of(error) for error in every_error()}
