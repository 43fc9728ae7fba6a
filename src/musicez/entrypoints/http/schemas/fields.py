"""What the bodies share: `doc`, `wire_time`, the documented constraints and the annotated field types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar.openapi.spec import Example
from litestar.params import ParameterKwarg, PathParameter

from musicez.application.session_opening import DEVICE_NAME_MAX
from musicez.domain import password_policy
from musicez.domain.email import DOCUMENTED_PATTERN, REFUSED_DOMAINS
from musicez.entrypoints.http import samples

# Where the refresh token travels: in the token response, or in an HttpOnly cookie (browser mode).
RefreshTokenTransport = Literal["body", "cookie"]


_WIRE_TIMES: dict[datetime, datetime] = {}  # the few instants a guarded route shows, made once


_WIRE_TIMES_MAX = 4096


def wire_time(value: datetime) -> datetime:
    """The instant as the wire shows it: UTC, whole seconds, which msgspec writes as
    `2026-01-02T03:04:05Z` (RFC 3339; a fraction of a second would add `.123456`). `/auth/me`
    shows the same three instants of a session on every call, so they are remembered (a bounded
    table, emptied when full: clients cannot grow it)."""
    found = _WIRE_TIMES.get(value)
    if found is None:
        if len(_WIRE_TIMES) >= _WIRE_TIMES_MAX:
            _WIRE_TIMES.clear()
        found = _WIRE_TIMES[value] = value.astimezone(UTC).replace(microsecond=0)
    return found


def doc(description: str, *examples: Any, **constraints: Any) -> msgspec.Meta:
    """A field's description and examples in the OpenAPI document, with its constraints if any. Fields
    that hold other structs get no example of their own: those structs' fields have theirs."""
    return msgspec.Meta(description=description, examples=list(examples) or None, **constraints)


# -- the real constraints of each field, stated in the OpenAPI document (API.md, Hardening v1.1) --
# `ParameterKwarg(...)` only documents: the route decides, with its own code (an address that is not
# one is 400 on register and forgot but 401 on login; a short password is 422 weak_password,
# listing every failed rule). `msgspec.Meta(...)` also enforces, as 400 validation_error. So a
# request the document calls valid is never a 400 validation_error, and every request it calls
# invalid is refused with a 4xx.
EMAIL_MAX_LENGTH = 254


PASSWORD_MIN_LENGTH = password_policy.MIN_LENGTH  # characters; the 72-byte rule stays a 422


PASSWORD_MAX_LENGTH = password_policy.MAX_BYTES


PASSWORD_POLICY = (
    f"Password policy: at least {password_policy.MIN_LENGTH} characters and at most "
    f"{password_policy.MAX_BYTES} bytes in UTF-8 "
    "(bcrypt's limit: longer is refused, never truncated), counted after NFC normalisation; not one of the "
    "10,000 most common passwords; not containing the local part of the account's email address when that "
    f"is {password_policy.MIN_LOCAL_PART_TO_CHECK} characters or longer (case-insensitively); at least "
    f"{password_policy.MIN_CLASSES} of the 4 character classes (lower case, upper case, digits, symbols) unless it "
    f"is {password_policy.LONG_ENOUGH_FOR_ANY_CLASSES} characters or longer; at least "
    f"{password_policy.MIN_DISTINCT} different "
    "characters; not only whitespace, control or format characters. A password that breaks any rule is "
    "answered 422 `weak_password`, with one entry in `errors` for every rule it breaks."
)


def _password(description: str, example: str) -> ParameterKwarg:
    return ParameterKwarg(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        description=description,
        examples=[Example(value=example)],
    )


EmailField = Annotated[
    str,
    ParameterKwarg(
        format="email",
        min_length=3,
        max_length=EMAIL_MAX_LENGTH,
        pattern=DOCUMENTED_PATTERN,
        description="An email address. Trimmed, and compared case-insensitively after Unicode (NFKC) folding, "
        "so `ADA@example.com` and `ada@example.com` are one account. Mail must be able to reach it: the domain "
        "has a dot, is no IP literal and no special-use name (" + ", ".join(f"`.{d}`" for d in REFUSED_DOMAINS) + "; "
        "`.test` is admitted), and the local part is not quoted. The pattern states a part of what is accepted that "
        "every address it admits is: letters, digits and inner hyphens in each domain label (an internationalized "
        "domain in its ASCII form is accepted too, but not stated), and no control, format or space character",
        examples=[Example(value=samples.EMAIL)],
    ),
]


PasswordField = Annotated[str, _password(f"The password to set. {PASSWORD_POLICY}", samples.PASSWORD)]


NewPasswordField = Annotated[str, _password(f"The new password. {PASSWORD_POLICY}", samples.NEW_PASSWORD)]


CurrentPasswordField = Annotated[
    str,
    _password(
        f"The account's password, as it is now. Every password the policy admits is {PASSWORD_MIN_LENGTH} to "
        f"{PASSWORD_MAX_LENGTH} characters long (and at most {PASSWORD_MAX_LENGTH} bytes in UTF-8), so nothing "
        "outside that range can be right; it is checked against the account, not against the policy",
        samples.PASSWORD,
    ),
]


RefreshTokenField = Annotated[
    str,
    ParameterKwarg(
        min_length=1,
        max_length=512,
        description="The refresh token of the latest token response for this session (opaque). Leave the field "
        "out, with a body of `{}`, to use the browser-mode refresh cookie instead; when both are sent the body "
        "wins and the answer is in body mode",
        examples=[Example(value=samples.REFRESH_TOKEN)],
    ),
]


ResetTokenField = Annotated[
    str,
    ParameterKwarg(
        min_length=1,
        max_length=128,
        description="The token of the reset link (the `token` query parameter of the link in the email): "
        "single-use, valid for 30 minutes by default",
        examples=[Example(value=samples.RESET_TOKEN)],
    ),
]


SecurityTokenField = Annotated[
    str,
    ParameterKwarg(
        max_length=128,
        description='The token of the link in the "new sign-in" email (its `token` query parameter): single-use, '
        "valid for 7 days",
        examples=[Example(value=samples.SECURITY_TOKEN)],
    ),
]


DeviceNameField = Annotated[
    str,
    doc(
        "A name for this device, shown in the session list and the security activity. Each run of "
        f"whitespace becomes one space and the first {DEVICE_NAME_MAX} characters are kept. Default: one made "
        "from the User-Agent (`Safari on Mac OS X`)",
        samples.DEVICE_NAME,
        max_length=200,
    ),
]


TransportField = Annotated[
    RefreshTokenTransport,
    msgspec.Meta(
        description="Where the refresh token goes: `body` (in the token response) or `cookie` (browser mode: an "
        "HttpOnly, Secure, SameSite=Strict cookie that JavaScript cannot read; the response then has no "
        "`refresh_token`)"
    ),
]


# Shared by several response bodies
UserIdField = Annotated[UUID, doc("The user's id (a UUID)", samples.USER_ID)]


SessionIdField = Annotated[UUID, doc("The session's id (a UUID)", samples.SESSION_ID)]


CreatedAtField = Annotated[datetime, doc("When the account was created (RFC 3339, UTC)", samples.CREATED_AT)]


StoredEmailField = Annotated[
    str, doc("The address as given at registration (trimmed, NFC); mail goes there", samples.EMAIL)
]


SessionCreatedField = Annotated[datetime, doc("When the session was opened: its login or registration", samples.NOW)]


LastUsedField = Annotated[
    datetime, doc("When the session last got new tokens: its login or latest refresh", samples.NOW)
]


SessionExpiresField = Annotated[
    datetime,
    doc(
        "When the session's refresh token expires; each refresh pushes it back, up to the session's absolute "
        "lifetime (30 days by default)",
        samples.REFRESH_EXPIRES_AT,
    ),
]


HealthState = Annotated[
    Literal["ok", "unavailable"], msgspec.Meta(description="`ok`, or `unavailable` when a check failed")
]


# An id in a path: documented as at most a UUID's 36 characters, never enforced as a 400, so that a
# malformed or longer id is the route's own 404 (`session_not_found`, `user_not_found`).
ID_MAX_LENGTH = 36


IdPath = Annotated[
    str, PathParameter(schema_extra={"maxLength": ID_MAX_LENGTH}, description="A UUID; anything else is a 404")
]
