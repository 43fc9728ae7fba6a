"""What every operation's reference is made of: `OperationDoc`, one problem document per code
(as the service writes it), the sample bodies and the phrases the descriptions share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.openapi.spec import Example

from musicez.domain.errors import HashingBusy, RateLimited, ValidationFailed, WeakPassword
from musicez.entrypoints.http import samples as s
from musicez.entrypoints.http.problems import STATUS_CODES
from musicez.entrypoints.http.schemas import (
    ActivityItemOut,
    AdminUserOut,
    FieldErrorOut,
    Problem,
    SessionOut,
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


def uid(text: str) -> UUID:
    return UUID(text)


def instant(text: str) -> datetime:
    """`2026-12-01T10:00:00Z` as the datetime the response would hold (written back the same)."""
    return datetime.fromisoformat(text)


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
        WeakPassword.title,
        f"{WeakPassword.title}: is one of the most common passwords; must contain at least 5 different characters",
        errors=[
            FieldErrorOut("password", "is one of the most common passwords"),
            FieldErrorOut("password", "must contain at least 5 different characters"),
        ],
    ),
    "token_revoked": msgspec.structs.replace(PROBLEMS["token_revoked"], reason="password_changed"),
    "invalid_refresh_token": msgspec.structs.replace(PROBLEMS["invalid_refresh_token"], reason="logout_all"),
    "rate_limited": problem("rate_limited", 429, RateLimited.title, RateLimited(1).detail),
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
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


# -- the sample bodies -----------------------------------------------------------------------

USER = UserOut(id=uid(s.USER_ID), email=s.EMAIL, created_at=instant(s.CREATED_AT))
TOKENS = TokenResponse(
    access_token=s.ACCESS_TOKEN,
    expires_in=900,
    refresh_expires_in=604800,
    session_id=uid(s.SESSION_ID),
    user=USER,
    refresh_token=s.REFRESH_TOKEN,
    device_token=s.DEVICE_TOKEN,
)
TOKENS_IN_COOKIE = msgspec.structs.replace(TOKENS, refresh_token=msgspec.UNSET)
REFRESHED = msgspec.structs.replace(TOKENS, refresh_token=s.NEXT_REFRESH_TOKEN, device_token=msgspec.UNSET)
REFRESHED_IN_COOKIE = msgspec.structs.replace(REFRESHED, refresh_token=msgspec.UNSET)
SESSIONS = [
    SessionOut(
        id=uid(s.SESSION_ID),
        device_name=s.DEVICE_NAME,
        created_at=instant(s.CREATED_AT),
        last_used_at=instant(s.NOW),
        expires_at=instant(s.REFRESH_EXPIRES_AT),
        current=True,
    ),
    SessionOut(
        id=uid(s.OTHER_SESSION_ID),
        device_name=s.OTHER_DEVICE_NAME,
        created_at=instant("2026-11-28T19:20:05Z"),
        last_used_at=instant(s.LAST_USED_AT),
        expires_at=instant("2026-12-08T09:45:12Z"),
        current=False,
    ),
]
ADA = AdminUserOut(
    id=uid(s.USER_ID),
    email=s.EMAIL,
    created_at=instant(s.CREATED_AT),
    disabled=False,
    disabled_reason=None,
    last_login_at=instant(s.NOW),
)
GRACE = AdminUserOut(
    id=uid(s.OTHER_USER_ID),
    email=s.OTHER_EMAIL,
    created_at=instant("2026-11-26T08:30:00Z"),
    disabled=True,
    disabled_reason=s.DISABLED_REASON,
    last_login_at=instant("2026-11-29T21:12:40Z"),
)
ACTIVITY = [
    ActivityItemOut(
        id=uid(s.ACTIVITY_ID),
        type="login",
        at=instant(s.NOW),
        session_id=uid(s.SESSION_ID),
        device_name=s.DEVICE_NAME,
        new_device=True,
        detail={},
    ),
    ActivityItemOut(
        id=uid("0193a4e9-1c07-7f10-8e21-9a3b4c5d6e7f"),
        type="session_ended",
        at=instant("2026-12-01T09:51:30Z"),
        session_id=uid("0193a2d4-77c1-7a02-9b13-c4d5e6f70812"),
        device_name="Chrome on Linux",
        new_device=None,
        detail={"reason": "ended_from_other_device"},
    ),
    ActivityItemOut(
        id=uid(s.OLDER_ACTIVITY_ID),
        type="login_failed",
        at=instant("2026-11-20T08:15:00Z"),
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


def lines(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)
