"""Domain and application errors, each with the stable machine-readable code of API.md and a
title in product language. How an error travels (its HTTP status) is the HTTP layer's business:
see `musicez.entrypoints.http.statuses`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ClientError(Exception):
    """Base of every error the service reports to a client; `code` is the contract."""

    code: str = "error"
    title: str = "Request failed"
    # What the client can do about it: the default `detail`, so it says more than `title`.
    hint: str = ""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.hint or self.title
        super().__init__(self.detail)


class ValidationFailed(ClientError):
    code = "validation_error"
    title = "The request is not valid"

    def __init__(self, detail: str | None = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors: list[FieldError] = errors or []


class WeakPassword(ValidationFailed):
    code = "weak_password"
    title = "The password does not meet the password policy"


class EmailTaken(ClientError):
    code = "email_taken"
    title = "An account with this email already exists"
    hint = "Log in instead, or reset the password with POST /auth/password/forgot"


class InvalidCredentials(ClientError):
    code = "invalid_credentials"
    title = "Email or password is incorrect"
    hint = "Check the email address and the password and try again"


class MissingCredentials(ClientError):
    code = "missing_credentials"
    title = "Authentication is required"
    hint = "Send Authorization: Bearer <access token>, or X-API-Key: <key> for a service"


class InvalidToken(ClientError):
    code = "invalid_token"
    title = "The access token is invalid"


class TokenExpired(InvalidToken):
    code = "token_expired"
    title = "The access token has expired"
    hint = "Get a new access token with POST /auth/refresh"


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    title = "The session of this access token has ended"
    hint = "Log in again: this session was ended (see `reason`)"

    def __init__(self, detail: str | None = None, reason: str | None = None) -> None:
        super().__init__(detail)
        # Why the session ended (API.md v1.1: logout, logout_all, ..., expired, max_age), when known.
        self.reason = reason


class InvalidApiKey(ClientError):
    code = "invalid_api_key"
    title = "The API key is invalid"


class InvalidRefreshToken(ClientError):
    code = "invalid_refresh_token"
    title = "The refresh token is invalid"
    hint = "Log in again to get a new refresh token"

    def __init__(self, detail: str | None = None, reason: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason  # why the session ended, when it did (API.md v1.1)


class RefreshTokenReused(ClientError):
    code = "refresh_token_reused"
    title = "The refresh token was already used; the session has been revoked"
    hint = "A rotated refresh token came back, so the session was ended to protect it; log in again"


class UserTokenRequired(ClientError):
    code = "user_token_required"
    title = "This route needs a user access token"
    hint = "Call this route with a user's access token, not an API key"


class SessionNotFound(ClientError):
    code = "session_not_found"
    title = "No such active session"
    hint = "List your live sessions with GET /auth/sessions"


class InvalidResetToken(ClientError):
    code = "invalid_reset_token"
    title = "The password reset token is invalid or has expired"
    hint = "Ask for a new link with POST /auth/password/forgot"


class InvalidCurrentPassword(ClientError):
    code = "invalid_current_password"
    title = "The current password is incorrect"
    hint = "Send the password you log in with now as current_password"


class ApiKeyNotFound(ClientError):
    code = "api_key_not_found"
    title = "No such API key"


class RateLimited(ClientError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or "Too many requests; try again later")
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(ClientError):
    code = "service_unavailable"
    title = "A dependency of the service is unavailable"
    hint = "Try again shortly"


class RevocationNotDelivered(ServiceUnavailable):
    """An API key revoked in the database that the running servers could not be told of: the
    revocation channel (Redis) is unavailable, so a server that has the key's row cached may
    still accept it. Revoking it again tells them (a repeat changes nothing else)."""

    title = "Revoked in the database; the running servers could not be told"

    def __init__(self, key_id: object) -> None:
        super().__init__(
            f"API key {key_id} is revoked in the database, but the running servers could not be told "
            "through the revocation channel (Redis is unavailable): a server that has the key cached "
            "may still accept it. Revoke it again once Redis is reachable, or restart the servers"
        )


# -- v1.1 ---------------------------------------------------------------------------------


class CsrfRejected(ClientError):
    code = "csrf_rejected"
    title = "The request's origin is not allowed to use the refresh cookie"
    hint = "Refresh from the app's own origin, or send refresh_token in the body"


class InsufficientScope(ClientError):
    code = "insufficient_scope"
    title = "The credential lacks the scope this route needs"
    hint = "This route needs an API key of scope admin"


class ApiKeyRequired(InsufficientScope):
    """`/metrics` with a user token. API.md's code table has no code of its own for it: a user
    token lacks what a scrape needs, so it is `insufficient_scope`, with its own title."""

    title = "This route is for services: use an API key or the metrics token"
    hint = "Scrape /metrics with MUSICEZ_METRICS_TOKEN or an API key"


class AccountDisabled(ClientError):
    code = "account_disabled"
    title = "This account is disabled"
    hint = "Contact support to have the account enabled again"


class UserNotFound(ClientError):
    code = "user_not_found"
    title = "No such user"
    hint = "Check the user id"


class InvalidSecurityToken(ClientError):
    code = "invalid_security_token"
    title = "The security link is invalid, used or expired"
    hint = "The link works once and for 7 days; if your account looks wrong, reset your password"


# -- hardening (issue 11) -------------------------------------------------------------------


class HashingBusy(ServiceUnavailable):
    """Every password hasher is busy and the wait queue is full: refused at once, never queued."""

    title = "The service is busy"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("Too many password checks at once; try again in a moment")
        self.retry_after = max(1, retry_after)
