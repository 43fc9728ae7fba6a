"""The OpenAPI reference of every operation: its summary, a description (what it does, who may
call it, what it returns, the errors worth knowing), the text of its success response, its
parameters, and named examples of its request and response bodies, including one problem
document for each code its error responses name (as the service writes it).

`describe_operations` puts them on the route handlers when the app is built; Litestar reads them
when it builds the document (at the first request for it). Nothing here runs while a request is
served. Response examples are the response structs themselves, so they have the real shape and
keep their `null`s (Litestar drops `None` from plain dicts in the document)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Example, OpenAPIResponse, Operation, Parameter, Reference, RequestBody

from musicez.domain.errors import HashingBusy, RateLimited, ValidationFailed
from musicez.entrypoints.http import samples as s
from musicez.entrypoints.http.problems import PROBLEM_JSON, STATUS_CODES
from musicez.entrypoints.http.routes.passwords import Accepted
from musicez.entrypoints.http.schemas import (
    ActivityItemOut,
    ActivityPage,
    AdminSessionOut,
    AdminUserDetails,
    AdminUserOut,
    AdminUserPage,
    ApiKeyOut,
    DependencyOut,
    FieldErrorOut,
    HealthOut,
    IntrospectionOut,
    MeApiKey,
    MeSession,
    MeUser,
    Problem,
    SessionOut,
    Status,
    TokenResponse,
    UserOut,
)
from musicez.entrypoints.http.statuses import every_error, status_of


@dataclass(frozen=True)
class OperationDoc:
    summary: str
    description: str
    success: str  # the success response's description
    request: Mapping[str, Example] = field(default_factory=dict)  # named examples of the request body
    responses: Mapping[int, Mapping[str, Example]] = field(default_factory=dict)  # by status
    parameters: Mapping[str, str] = field(default_factory=dict)  # path and query parameters: name -> description
    problems: Mapping[str, Problem] = field(default_factory=dict)  # this route's own wording of a code's problem


def example(summary: str, value: Any) -> Example:
    return Example(summary=summary, value=value)


def problem(code: str, status: int, title: str, detail: str, **extra: Any) -> Problem:
    return Problem(type=f"urn:musicez:problem:{code}", title=title, status=status, detail=detail, code=code, **extra)


# One problem document per code, as the service writes it (title, and the default detail that says
# what to do). A problem response of the document gets one example per code its description names.
PROBLEMS: dict[str, Problem] = {
    code: problem(code, status, title, title) for status, (code, title) in STATUS_CODES.items()
} | {
    error.code: problem(error.code, status_of(error), error.title, error.hint or error.title)
    for error in reversed(every_error()[1:])  # the first class of a code (the most general) wins
}
PROBLEMS |= {
    "weak_password": problem(
        "weak_password",
        422,
        WEAK_TITLE := "The password does not meet the password policy",
        f"{WEAK_TITLE}: is one of the most common passwords; must contain at least 5 different characters",
        errors=[
            FieldErrorOut("password", "is one of the most common passwords"),
            FieldErrorOut("password", "must contain at least 5 different characters"),
        ],
    ),
    "token_revoked": msgspec.structs.replace(PROBLEMS["token_revoked"], reason="password_changed"),
    "invalid_refresh_token": msgspec.structs.replace(PROBLEMS["invalid_refresh_token"], reason="logout_all"),
    "rate_limited": problem("rate_limited", 429, RateLimited.title, "Too many requests; try again later"),
    "payload_too_large": msgspec.structs.replace(PROBLEMS["payload_too_large"], detail="Request Entity Too Large"),
    "not_found": msgspec.structs.replace(PROBLEMS["not_found"], detail="No such resource"),
    "service_unavailable": msgspec.structs.replace(
        PROBLEMS["service_unavailable"], detail="The database is unavailable"
    ),
}
BUSY_HASHERS = problem("service_unavailable", 503, HashingBusy.title, HashingBusy().detail)


def invalid(field: str, message: str, detail: str | None = None) -> Problem:
    """A 400 validation_error naming the field at fault, as the service words it."""
    return problem(
        ValidationFailed.code,
        400,
        ValidationFailed.title,
        detail or f"{field}: {message}",
        errors=[FieldErrorOut(field, message)],
    )


MALFORMED = "JSON is malformed: object keys must be strings (byte 1)"
PROBLEMS["validation_error"] = invalid("body", MALFORMED, MALFORMED)
PROBLEMS["insufficient_scope"] = msgspec.structs.replace(
    PROBLEMS["insufficient_scope"], detail="This route needs the `admin` scope"
)
PROBLEMS["user_not_found"] = msgspec.structs.replace(PROBLEMS["user_not_found"], detail="No user with this id")
INVALID_EMAIL = {
    "validation_error": invalid("email", "An email address must have an @-sign.", "The email address is not valid")
}
_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


# -- the sample bodies -----------------------------------------------------------------------

USER = UserOut(id=s.USER_ID, email=s.EMAIL, created_at=s.CREATED_AT)
TOKENS = TokenResponse(
    access_token=s.ACCESS_TOKEN,
    expires_in=900,
    refresh_expires_in=604800,
    session_id=s.SESSION_ID,
    user=USER,
    refresh_token=s.REFRESH_TOKEN,
    device_token=s.DEVICE_TOKEN,
)
TOKENS_IN_COOKIE = msgspec.structs.replace(TOKENS, refresh_token=msgspec.UNSET)
REFRESHED = msgspec.structs.replace(TOKENS, refresh_token=s.NEXT_REFRESH_TOKEN, device_token=msgspec.UNSET)
REFRESHED_IN_COOKIE = msgspec.structs.replace(REFRESHED, refresh_token=msgspec.UNSET)
SESSIONS = [
    SessionOut(
        id=s.SESSION_ID,
        device_name=s.DEVICE_NAME,
        created_at=s.CREATED_AT,
        last_used_at=s.NOW,
        expires_at=s.REFRESH_EXPIRES_AT,
        current=True,
    ),
    SessionOut(
        id=s.OTHER_SESSION_ID,
        device_name=s.OTHER_DEVICE_NAME,
        created_at="2026-11-28T19:20:05Z",
        last_used_at=s.LAST_USED_AT,
        expires_at="2026-12-08T09:45:12Z",
        current=False,
    ),
]
ADA = AdminUserOut(
    id=s.USER_ID, email=s.EMAIL, created_at=s.CREATED_AT, disabled=False, disabled_reason=None, last_login_at=s.NOW
)
GRACE = AdminUserOut(
    id=s.OTHER_USER_ID,
    email=s.OTHER_EMAIL,
    created_at="2026-11-26T08:30:00Z",
    disabled=True,
    disabled_reason=s.DISABLED_REASON,
    last_login_at="2026-11-29T21:12:40Z",
)
ACTIVITY = [
    ActivityItemOut(
        id=s.ACTIVITY_ID,
        type="login",
        at=s.NOW,
        session_id=s.SESSION_ID,
        device_name=s.DEVICE_NAME,
        new_device=True,
        detail={},
    ),
    ActivityItemOut(
        id="0193a4e9-1c07-7f10-8e21-9a3b4c5d6e7f",
        type="session_ended",
        at="2026-12-01T09:51:30Z",
        session_id="0193a2d4-77c1-7a02-9b13-c4d5e6f70812",
        device_name="Chrome on Linux",
        new_device=None,
        detail={"reason": "ended_from_other_device"},
    ),
    ActivityItemOut(
        id=s.OLDER_ACTIVITY_ID,
        type="login_failed",
        at="2026-11-20T08:15:00Z",
        session_id=None,
        device_name=None,
        new_device=None,
        detail={},
    ),
]

TOKEN_RESPONSE = (
    "the token response: an access token (`expires_in` seconds, 900 by default), a refresh token (or, in "
    "browser mode, a `Set-Cookie` instead; `refresh_expires_in` either way), the `session_id` and the `user`"
)
USER_ONLY = (
    "**Who:** a user, with an access token (`Authorization: Bearer …`). An API key gets 403 `user_token_required`."
)
ADMIN_ONLY = (
    "**Who:** an API key of scope `admin` (`X-API-Key`), for support consoles. A user token or an API key of scope "
    "`api` gets 403 `insufficient_scope`. Each call is a security event in the logs naming the key; in the user's "
    'own activity it shows as `by: "admin"`.'
)
CREDENTIAL_ERRORS = (
    "401 `missing_credentials`, `invalid_token`, `token_expired`, `token_revoked` (with the `reason` the session "
    "ended) or `invalid_api_key`, with `WWW-Authenticate`; 429 `rate_limited` (per user or API key) with "
    "`Retry-After`"
)
USER_ID_PARAMETER = {"user_id": "The user's id (a UUID); an unknown or malformed one is 404 `user_not_found`"}


def _lines(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)


OPERATIONS: dict[str, OperationDoc] = {
    # -- register, log in, refresh, who am I ------------------------------------------------
    "POST /auth/register": OperationDoc(
        summary="Create an account",
        description=_lines(
            "Creates an account for the email address and opens its first session, as a login would. The "
            "address is kept as given (trimmed, NFC) and compared case-insensitively after Unicode folding.",
            "**Who:** anyone: the route is public and ignores credentials. Limited per client address.",
            f"**Returns:** 201 with {TOKEN_RESPONSE}, plus a `device_token` for this device. "
            "`Cache-Control: no-store`.",
            "**Errors:** 409 `email_taken`; 422 `weak_password`, with one entry in `errors` for every rule the "
            "password breaks (the policy is in the `password` field's description); 400 `validation_error` for a "
            "missing, mistyped or malformed field (such as an address that is not one); 429 `rate_limited`; "
            "503 `service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        problems=INVALID_EMAIL,
        success="Account created, and its first session opened: the token response",
        request={
            "email and password": example(
                "An app that keeps the refresh token", {"email": s.EMAIL, "password": s.PASSWORD}
            ),
            "browser mode": example(
                "A browser app: the refresh token goes into an HttpOnly cookie",
                {
                    "email": s.EMAIL,
                    "password": s.PASSWORD,
                    "device_name": s.DEVICE_NAME,
                    "refresh_token_transport": "cookie",
                },
            ),
        },
        responses={
            201: {
                "tokens": example("Body mode: the refresh token is in the body", TOKENS),
                "browser mode": example("Browser mode: the refresh token is in `Set-Cookie`", TOKENS_IN_COOKIE),
            }
        },
    ),
    "POST /auth/login": OperationDoc(
        summary="Log in with email and password",
        description=_lines(
            "Checks the email and password and opens a new session for this device. A login from a device name "
            'the account has not used in 90 days mails the owner a "new sign-in" notice with a "this wasn\'t me" '
            "link.",
            "**Who:** anyone: the route is public and ignores credentials. Send back the `device_token` of this "
            "device's last login: then other clients' failed guesses at the account do not lock this device out.",
            f"**Returns:** 200 with {TOKEN_RESPONSE}, plus a new `device_token`. `Cache-Control: no-store`.",
            "**Errors:** 401 `invalid_credentials` for an unknown email and a wrong password alike (same answer, "
            "same time); 403 `account_disabled` for the right password of a disabled account; 429 `rate_limited` "
            "after repeated failures (per email and client address, per client address, and per account, across "
            "every client); 503 `service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        problems={"validation_error": invalid("password", "Object missing required field `password`")},
        success="Logged in: the token response of the new session",
        request={
            "email and password": example("A first login on this device", {"email": s.EMAIL, "password": s.PASSWORD}),
            "returning device": example(
                "A device that logged in before: its name and its device token",
                {
                    "email": s.EMAIL,
                    "password": s.PASSWORD,
                    "device_name": s.DEVICE_NAME,
                    "device_token": s.DEVICE_TOKEN,
                },
            ),
            "browser mode": example(
                "A browser app: the refresh token goes into an HttpOnly cookie",
                {"email": s.EMAIL, "password": s.PASSWORD, "refresh_token_transport": "cookie"},
            ),
        },
        responses={
            200: {
                "tokens": example("Body mode: the refresh token is in the body", TOKENS),
                "browser mode": example("Browser mode: the refresh token is in `Set-Cookie`", TOKENS_IN_COOKIE),
            }
        },
    ),
    "POST /auth/refresh": OperationDoc(
        summary="Get new tokens with the refresh token",
        description=_lines(
            "Rotates the session's refresh token: a new access token and a new refresh token for the same "
            "`session_id`; the refresh token presented stops working. Keep the new one. The same token sent again "
            "within the reuse grace (10 s by default) of its rotation is a retry, not theft: it gets the same new "
            "refresh token again.",
            "**Who:** public: the refresh token is the credential, in the body, or (browser mode, with a body of "
            "`{}`) in the refresh cookie, which must come with an `Origin` that may use it.",
            f"**Returns:** 200 with {TOKEN_RESPONSE}; no `device_token`. `Cache-Control: no-store`.",
            "**Errors:** 401 `invalid_refresh_token` (unknown, expired, revoked or malformed; with `reason` when "
            "its session ended); 401 `refresh_token_reused` (a refresh token already rotated away came back: the "
            "whole session is ended as stolen); 403 `csrf_rejected` (the cookie came from an origin that may not "
            "use it); 400 `validation_error` when there is neither a body token nor the cookie; 429 "
            "`rate_limited` (failures per client address, successes per session).",
        ),
        problems={
            "validation_error": invalid(
                "refresh_token", "Send refresh_token in the body, or the refresh cookie (browser mode)"
            )
        },
        success="The session's new tokens: the token response, without `device_token`",
        request={
            "refresh token": example(
                "Body mode: the refresh token of the last token response", {"refresh_token": s.REFRESH_TOKEN}
            ),
            "browser mode": example("Browser mode: the refresh cookie is the credential", {}),
        },
        responses={
            200: {
                "tokens": example("Body mode: keep the new refresh token", REFRESHED),
                "browser mode": example("Browser mode: the new refresh token is in `Set-Cookie`", REFRESHED_IN_COOKIE),
            }
        },
    ),
    "GET /auth/me": OperationDoc(
        summary="Who am I, and until when",
        description=_lines(
            'Describes the credential of the request: the "am I logged in, and until when" answer.',
            "**Who:** a user's access token or an API key.",
            "**Returns:** 200: for an access token, `kind: user` with the user and the session, including when "
            "the access token and the session's refresh token expire; for an API key, `kind: api_key` with the "
            "key's id and name. `Cache-Control: no-store`.",
            f"**Errors:** {CREDENTIAL_ERRORS}.",
        ),
        success="The caller: a user and their session, or an API key",
        responses={
            200: {
                "user": example(
                    "A user's access token",
                    MeUser(
                        user=USER,
                        session=MeSession(
                            id=s.SESSION_ID,
                            access_token_expires_at=s.ACCESS_TOKEN_EXPIRES_AT,
                            refresh_expires_at=s.REFRESH_EXPIRES_AT,
                        ),
                    ),
                ),
                "api key": example("An API key", MeApiKey(api_key=ApiKeyOut(id=s.API_KEY_ID, name=s.API_KEY_NAME))),
            }
        },
    ),
    # -- sessions -----------------------------------------------------------------------------
    "POST /auth/logout": OperationDoc(
        summary="Log out of this session",
        description=_lines(
            "Ends the session of the access token: its refresh token and all its access tokens stop working at "
            "once, on every server (they then answer 401 `token_revoked` with `reason: logout`).",
            USER_ONLY,
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="Logged out: the session ended; when the request carried the refresh cookie, `Set-Cookie` clears it",
    ),
    "POST /auth/logout-all": OperationDoc(
        summary="Log out everywhere",
        description=_lines(
            "Ends every session of the user, this one included, at once and on every server.",
            USER_ONLY,
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success=(
            "Every session of the user ended, this one included; when the request carried the refresh cookie, "
            "`Set-Cookie` clears it"
        ),
    ),
    "POST /auth/logout-others": OperationDoc(
        summary="Log out every other device",
        description=_lines(
            "Ends every session of the user but this one, at once and on every server (their tokens answer 401 "
            "`token_revoked` with `reason: ended_from_other_device`). This session goes on.",
            USER_ONLY,
            "**Returns:** 204.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="Every other session of the user ended; this one goes on",
    ),
    "GET /auth/sessions": OperationDoc(
        summary="List my active sessions",
        description=_lines(
            "The caller's active sessions, one per logged-in device: to show a \"where you're logged in\" page.",
            USER_ONLY,
            "**Returns:** 200 with the sessions; `current` marks the one of this request. `Cache-Control: no-store`.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="The caller's active sessions; `current` marks the one making this request",
        responses={200: {"two devices": example("Logged in on a phone and a laptop", SESSIONS)}},
    ),
    "DELETE /auth/sessions/{session_id}": OperationDoc(
        summary="Log one device out",
        description=_lines(
            "Ends one of the caller's sessions, at once and on every server: its tokens answer 401 "
            "`token_revoked` (with `reason: ended_from_other_device` when it is not this one).",
            USER_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `session_not_found` when it is not an active session of the caller; "
            f"{CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="That session ended: its tokens no longer work",
        parameters={"session_id": "The session's id, as in `GET /auth/sessions`"},
    ),
    "GET /auth/activity": OperationDoc(
        summary="My security activity",
        description=_lines(
            "The caller's security events, newest first: logins (and whether the device was new), failed "
            "logins, logouts, sessions that ended and why, detected refresh-token theft, password changes and "
            "resets, and an admin disabling or enabling the account. Kept 90 days by default; no client address "
            "is stored.",
            USER_ONLY,
            "**Returns:** 200 with a page of events and `next_cursor` (null on the last page): send it as "
            "`cursor` for the next, older page. `Cache-Control: no-store`.",
            f"**Errors:** 400 `validation_error` for a `limit` outside 1 to 100 or a `cursor` that is not a "
            f"`next_cursor`; {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        problems={"validation_error": invalid("limit", "Expected `int` <= 100")},
        success="A page of the caller's security events, newest first",
        responses={
            200: {
                "a page": example(
                    "A login from a new phone, a laptop logged out from it, and a failed login",
                    ActivityPage(items=ACTIVITY, next_cursor=s.ACTIVITY_CURSOR),
                ),
                "last page": example("The last page", ActivityPage(items=ACTIVITY[2:], next_cursor=None)),
            }
        },
    ),
    "POST /auth/not-me": OperationDoc(
        summary="This sign-in wasn't me",
        description=_lines(
            'Ends the session that a "new sign-in" email was about, at once: the link of the mail carries the '
            "token. The user should then change their password.",
            "**Who:** public: the token of the link is the credential (single-use, valid for 7 days).",
            "**Returns:** 204.",
            "**Errors:** 400 `invalid_security_token` (unknown, used or expired); 400 `validation_error` for a "
            "malformed body; 429 `rate_limited` after too many bad tokens from one client address.",
        ),
        success="The session the email was about ended",
        request={"token": example("The token of the link in the email", {"token": s.SECURITY_TOKEN})},
    ),
    # -- passwords ----------------------------------------------------------------------------
    "POST /auth/password/forgot": OperationDoc(
        summary="Ask for a password reset link",
        description=_lines(
            "Mails a reset link (`MUSICEZ_PASSWORD_RESET_URL?token=…`, valid for 30 minutes by default) to the "
            "account with this address, if there is an enabled one. The answer is the same, in the same time, "
            "whether or not it exists. Earlier links keep working (up to 5 at once).",
            "**Who:** anyone: the route is public and ignores credentials.",
            "**Returns:** 202 for every well-formed request.",
            "**Errors:** 400 `validation_error` for a malformed body or address; 429 `rate_limited` (per client "
            "address, and per address and client).",
        ),
        problems=INVALID_EMAIL,
        success=(
            "Accepted: if an enabled account has this address, a reset link is on its way (the same answer either way)"
        ),
        request={"email": example("The address of the account", {"email": s.EMAIL})},
        responses={202: {"accepted": example("The one answer, whether or not the account exists", Accepted())}},
    ),
    "POST /auth/password/reset": OperationDoc(
        summary="Set a new password with a reset link",
        description=_lines(
            "Sets a new password with the token of a reset link. Every session of the user ends and the old "
            "password stops working; every other reset link of the user is voided. The owner is mailed that the "
            "password changed.",
            "**Who:** public: the reset token is the credential (single-use, valid for 30 minutes by default).",
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            "**Errors:** 400 `invalid_reset_token` (unknown, used or expired); 422 `weak_password`, with every "
            "failed rule in `errors` (the link stays usable); 400 `validation_error` for a malformed body; 429 "
            "`rate_limited` after too many bad tokens from one client address; 503 `service_unavailable` with "
            "`Retry-After` when every password hasher is busy.",
        ),
        success=(
            "Password set; every session of the user ended; when the request carried the refresh cookie, "
            "`Set-Cookie` clears it"
        ),
        request={
            "token and new password": example(
                "The token of the link, and the new password", {"token": s.RESET_TOKEN, "new_password": s.NEW_PASSWORD}
            )
        },
    ),
    "POST /auth/password/change": OperationDoc(
        summary="Change my password",
        description=_lines(
            "Changes the caller's password. Every other session of the user ends; this one goes on (and keeps its "
            "browser-mode cookie). The owner is mailed that the password changed.",
            USER_ONLY,
            "**Returns:** 204.",
            "**Errors:** 400 `invalid_current_password` (it counts against the account's failed-login budget, "
            "like a failed login); 422 `weak_password`, with every failed rule in `errors`; 400 "
            f"`validation_error` for a malformed body; {CREDENTIAL_ERRORS}; 403 `user_token_required`; 503 "
            "`service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        success="Password changed; every other session of the user ended, this one goes on",
        request={
            "current and new password": example(
                "The password as it is, and the new one",
                {"current_password": s.PASSWORD, "new_password": s.NEW_PASSWORD},
            )
        },
    ),
    # -- health and keys ------------------------------------------------------------------------
    "GET /health/live": OperationDoc(
        summary="Liveness",
        description=_lines(
            "Whether the process is up, for a liveness probe. Checks no dependency, so it stays fast when they "
            "are down.",
            "**Who:** anyone: the route is public.",
            '**Returns:** 200 `{"status": "ok"}`, never anything more.',
        ),
        success="The process is up",
        responses={200: {"up": example("The process is up", Status(status="ok"))}},
    ),
    "GET /health/ready": OperationDoc(
        summary="Readiness",
        description=_lines(
            "Whether this process can serve requests, for a readiness probe or a load balancer: the database "
            "answers (at the schema revision this version needs) and so does the session store.",
            "**Who:** anyone: the route is public, and tells no details.",
            '**Returns:** 200 `{"status": "ok"}`, or 503 `{"status": "unavailable"}` when a dependency does not '
            "answer (a status document, not a problem document).",
        ),
        success="Ready: the database and the session store answer",
        responses={
            200: {"ready": example("Ready", Status(status="ok"))},
            503: {"unavailable": example("A dependency does not answer", Status(status="unavailable"))},
        },
    ),
    "GET /health": OperationDoc(
        summary="Detailed health",
        description=_lines(
            "Each dependency (the database and the session store) with its status and how long its check took, "
            "for operators and monitoring.",
            "**Who:** a user's access token or an API key. When the session store is down, an API key is checked "
            "against the database alone, so the report still comes through.",
            "**Returns:** 200 when every dependency is available; 503 with the same report (a status document, "
            "not a problem document) when one is not, with the error's type.",
            f"**Errors:** {CREDENTIAL_ERRORS}.",
        ),
        success="Every dependency is available: each one's status and latency",
        responses={
            200: {
                "healthy": example(
                    "Both dependencies answer",
                    HealthOut(
                        status="ok",
                        dependencies={
                            "database": DependencyOut(status="ok", latency_ms=1.27),
                            "session_store": DependencyOut(status="ok", latency_ms=0.42),
                        },
                    ),
                )
            },
            503: {
                "session store down": example(
                    "The session store does not answer",
                    HealthOut(
                        status="unavailable",
                        dependencies={
                            "database": DependencyOut(status="ok", latency_ms=1.31),
                            "session_store": DependencyOut(
                                status="unavailable", latency_ms=1000.4, error="TimeoutError"
                            ),
                        },
                    ),
                )
            },
        },
    ),
    "GET /.well-known/jwks.json": OperationDoc(
        summary="Public keys that verify access tokens",
        description=_lines(
            "The JSON Web Key Set (RFC 7517) of the keys that sign access tokens (EdDSA or ES256), by `kid`: a "
            "service can verify tokens offline with it. Such a service accepts a token of an ended session until "
            "it expires; `GET /auth/verify` or `POST /auth/introspect` refuse it at once.",
            "**Who:** anyone: the route is public.",
            "**Returns:** 200 with the key set.",
            "**Errors:** 404 `not_found` when tokens are signed with a shared secret (HS256): there is no public "
            "key to publish.",
        ),
        success="The JWK set: the public keys that verify access tokens, by `kid`",
        responses={
            200: {
                "Ed25519": example(
                    "One EdDSA key",
                    {
                        "keys": [
                            {
                                "kty": "OKP",
                                "crv": "Ed25519",
                                "x": s.KEY_X,
                                "kid": s.KEY_ID,
                                "use": "sig",
                                "alg": "EdDSA",
                            }
                        ]
                    },
                )
            }
        },
    ),
    # -- administration ------------------------------------------------------------------------
    "GET /admin/users": OperationDoc(
        summary="List user accounts",
        description=_lines(
            "User accounts in creation order, optionally filtered by a part of the email address and by the "
            "disabled flag; the same as `musicez users list`.",
            ADMIN_ONLY,
            "**Returns:** 200 with a page of accounts and `next_cursor` (null on the last page): send it as "
            "`cursor` for the next page. `Cache-Control: no-store`.",
            f"**Errors:** 400 `validation_error` for a malformed parameter; {CREDENTIAL_ERRORS}; 403 "
            "`insufficient_scope`.",
        ),
        problems={"validation_error": invalid("limit", "Expected `int` <= 100")},
        success="A page of accounts, in creation order",
        parameters={
            "email_contains": "Only accounts whose email address contains this text (case-insensitively)",
            "disabled": "`true`: only disabled accounts; `false`: only enabled ones; absent: both",
            "limit": "Accounts per page",
            "cursor": "The `next_cursor` of the previous page",
        },
        responses={
            200: {
                "a page": example(
                    "Two accounts, one of them disabled", AdminUserPage(items=[ADA, GRACE], next_cursor=s.USERS_CURSOR)
                ),
                "last page": example("The last page", AdminUserPage(items=[GRACE], next_cursor=None)),
            }
        },
    ),
    "GET /admin/users/{user_id}": OperationDoc(
        summary="Show one user account",
        description=_lines(
            "One account and its live sessions; the same as `musicez users show`.",
            ADMIN_ONLY,
            "**Returns:** 200 with the account's fields and its `sessions`. `Cache-Control: no-store`.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="The account and its live sessions",
        parameters=USER_ID_PARAMETER,
        responses={
            200: {
                "ada": example(
                    "An account logged in on one device",
                    AdminUserDetails(
                        id=ADA.id,
                        email=ADA.email,
                        created_at=ADA.created_at,
                        disabled=ADA.disabled,
                        disabled_reason=ADA.disabled_reason,
                        last_login_at=ADA.last_login_at,
                        sessions=[
                            AdminSessionOut(
                                id=s.SESSION_ID,
                                device_name=s.DEVICE_NAME,
                                created_at=s.CREATED_AT,
                                last_used_at=s.NOW,
                                expires_at=s.REFRESH_EXPIRES_AT,
                            )
                        ],
                    ),
                )
            }
        },
    ),
    "POST /admin/users/{user_id}/disable": OperationDoc(
        summary="Disable an account",
        description=_lines(
            "Blocks the account: every session ends at once, on every server (tokens answer 401 `token_revoked`, "
            "refresh `invalid_refresh_token`, with `reason: account_disabled`); login with the right password "
            "answers 403 `account_disabled`; forgot-password sends nothing; outstanding reset links stop working. "
            "The body is optional.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; 400 `validation_error` for a malformed body; {CREDENTIAL_ERRORS}; "
            "403 `insufficient_scope`.",
        ),
        success="Account disabled; every session of the user ended",
        parameters=USER_ID_PARAMETER,
        request={
            "with a reason": example("Say why: kept with the account", {"reason": s.DISABLED_REASON}),
            "without a reason": example("No reason given", {}),
        },
    ),
    "POST /admin/users/{user_id}/enable": OperationDoc(
        summary="Enable an account",
        description=_lines(
            "Lifts the block of a disabled account: the user can log in again. Sessions that ended and reset "
            "links that were voided stay so.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="Account enabled; sessions that ended stay ended",
        parameters=USER_ID_PARAMETER,
    ),
    "POST /admin/users/{user_id}/logout": OperationDoc(
        summary="Log a user out everywhere",
        description=_lines(
            "Ends every session of the user at once, on every server (tokens answer 401 `token_revoked` with "
            "`reason: admin_logout`). The account stays enabled: the user can log in again.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="Every session of the user ended",
        parameters=USER_ID_PARAMETER,
    ),
    # -- protecting other services -----------------------------------------------------------
    "GET /auth/verify": OperationDoc(
        summary="Check a credential for a proxy (forward auth)",
        description=_lines(
            "For nginx `auth_request`, Traefik ForwardAuth and Envoy `ext_authz` in front of another service: "
            "the proxy forwards the client's credential headers here, and lets the request through on a 200. A "
            "token of an ended session is refused at once. `X-Forwarded-Method` and `X-Forwarded-Uri` from a "
            "trusted proxy are logged, never acted upon.",
            "**Who:** a user's access token or an API key, as on any protected route; rate limited per principal "
            "like one.",
            "**Returns:** 200 with an empty body and the principal in headers: `X-Auth-Kind` (`user` or "
            "`api_key`), `X-Auth-User-Id` and `X-Auth-Session-Id` for a user, `X-Auth-Api-Key-Id` and "
            "`X-Auth-Scope` for a key. `Cache-Control: no-store`.",
            f"**Errors:** exactly what any protected route answers: {CREDENTIAL_ERRORS}; 503 `service_unavailable`.",
        ),
        success="The credential is good: the principal is in the X-Auth-* headers; the body is empty",
    ),
    "POST /auth/introspect": OperationDoc(
        summary="Introspect an access token (RFC 7662)",
        description=_lines(
            "Tells a service whether an access token is valid and its session alive, with its claims. A token "
            "of an ended session is inactive at once.",
            "**Who:** a service, with an API key (`X-API-Key`). The body is a form "
            "(`application/x-www-form-urlencoded`, `token=<access token>`), as RFC 7662 says.",
            '**Returns:** 200 with `active: true` and the claims, or just `{"active": false}` for any token that '
            "is not a valid access token of a live session (never an error for a bad token). `Cache-Control: "
            "no-store`.",
            "**Errors:** 401 `missing_credentials` without an API key (a user token alone is not enough), "
            "`invalid_api_key`, or a rejected bearer token sent along (`invalid_token`, `token_expired`, "
            "`token_revoked`); 415 `unsupported_media_type` for a body "
            "that is not a form; 429 `rate_limited`.",
        ),
        problems={
            "validation_error": invalid("token_type_hint", "Expected `str` of length <= 64"),
            "unsupported_media_type": problem(
                "unsupported_media_type",
                415,
                STATUS_CODES[415][1],
                "Send the body as application/x-www-form-urlencoded",
            ),
        },
        success="The token's state: `active` with its claims, or only `active: false`",
        request={
            "access token": example(
                "The access token a client sent the service",
                {"token": s.ACCESS_TOKEN, "token_type_hint": "access_token"},
            )
        },
        responses={
            200: {
                "active": example(
                    "A valid access token of a live session",
                    IntrospectionOut(
                        active=True,
                        token_type="access_token",
                        sub=s.USER_ID,
                        sid=s.SESSION_ID,
                        iss=s.ISSUER,
                        aud=s.AUDIENCE,
                        iat=s.ACCESS_TOKEN_IAT,
                        exp=s.ACCESS_TOKEN_EXP,
                        jti=s.ACCESS_TOKEN_ID,
                    ),
                ),
                "inactive": example(
                    "Expired, revoked, forged, or not an access token at all", IntrospectionOut(active=False)
                ),
            }
        },
    ),
}


def _add_examples(operation: Operation, doc: OperationDoc) -> None:
    if doc.request:
        if not isinstance(operation.request_body, RequestBody):
            raise LookupError(f"{doc.summary}: request examples, but the operation takes no body")
        for media in operation.request_body.content.values():
            media.examples = dict(doc.request)
    for status, examples in doc.responses.items():
        response = (operation.responses or {}).get(str(status))
        if not isinstance(response, OpenAPIResponse) or not response.content:
            raise LookupError(f"{doc.summary}: examples for {status}, which has no documented body")
        for media in response.content.values():
            media.examples = dict(examples)
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.name in doc.parameters:
            parameter.description = doc.parameters[parameter.name]
    for code, documented in (operation.responses or {}).items():
        if not isinstance(documented, OpenAPIResponse):
            continue
        problems = (documented.content or {}).get(PROBLEM_JSON)
        if problems is not None and not problems.examples:
            problems.examples = _problem_examples(operation, doc, int(code), documented.description or "")


def _problem_examples(
    operation: Operation, doc: OperationDoc, status: int, text: str
) -> dict[str, Example | Reference]:
    """One example per code that the response's description names, as this route words it."""
    codes = [code for code in dict.fromkeys(_CODE.findall(text)) if code in PROBLEMS or code in doc.problems]
    if not codes:
        raise LookupError(f"{doc.summary}: the {status} response names no problem code: {text!r}")
    examples: dict[str, Example | Reference] = {}
    for code in codes:
        found = doc.problems.get(code) or PROBLEMS[code]
        if code == "validation_error" and code not in doc.problems and operation.request_body is None:
            name = next((p.name for p in operation.parameters or [] if isinstance(p, Parameter)), "parameter")
            found = invalid(name, "is not valid")  # the generic example is about a body, and there is none
        if found.status != status:
            raise LookupError(f"{doc.summary}: {code} is a {found.status}, documented as a {status}")
        examples[code] = example(found.title, found)
    if status == 503 and "hasher" in text:
        examples["busy"] = example(BUSY_HASHERS.title, BUSY_HASHERS)
    return examples


def _operation_class(doc: OperationDoc) -> type[Operation]:
    """Litestar builds each operation with the handler's `operation_class`: this one adds the examples."""

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            _add_examples(self, doc)

    return DocumentedOperation


_OPERATION_CLASSES = {key: _operation_class(doc) for key, doc in OPERATIONS.items()}


def operation_key(handler: HTTPRouteHandler) -> str:
    """`POST /auth/register`, `DELETE /auth/sessions/{session_id}`: as the document names it."""
    path = next(iter(handler.paths), "")
    path = "/".join(part.split(":", 1)[0] + ("}" if ":" in part else "") for part in path.split("/"))
    return f"{next(iter(sorted(handler.http_methods)))} {path}"


def describe_operations(handlers: Iterable[HTTPRouteHandler]) -> None:
    """Put each operation's reference on its handler. Every documented route needs one, and every
    entry a route, so neither can be forgotten."""
    described = set()
    for handler in handlers:
        if handler.include_in_schema is False:
            continue
        key = operation_key(handler)
        if key not in OPERATIONS:
            raise LookupError(f"{key} has no entry in the OpenAPI reference (reference.OPERATIONS)")
        doc = OPERATIONS[key]
        handler.summary = doc.summary
        handler.description = doc.description
        handler.response_description = doc.success
        handler.operation_class = _OPERATION_CLASSES[key]
        own = handler.responses or {}
        if handler.status_code in own:  # a route's own success spec (e.g. a 204 that clears the cookie)
            success = dataclasses.replace(own[handler.status_code], description=doc.success)
            handler.responses = {**own, handler.status_code: success}
        described.add(key)
    if stale := set(OPERATIONS) - described:
        raise LookupError(f"reference.OPERATIONS describes routes that are not served: {sorted(stale)}")
