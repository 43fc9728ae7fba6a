"""Request and response bodies as msgspec structs: the wire shapes of API.md.

Each field carries its description and a realistic example for the OpenAPI reference
(`msgspec.Meta(description=..., examples=[...])`, or the `ParameterKwarg` of a documented-only
constraint). They are read when the document is built, never while a request is served: a
`Meta` without constraints changes neither decoding nor encoding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.openapi.spec import Example
from litestar.params import ParameterKwarg, PathParameter

from musicez.application.devices import DEVICE_TOKEN_MAX_LENGTH
from musicez.domain import password_policy as policy
from musicez.domain.redaction import hide_secrets
from musicez.entrypoints.http import samples

# Where the refresh token travels: in the token response, or in an HttpOnly cookie (browser mode).
RefreshTokenTransport = Literal["body", "cookie"]


_RFC3339: dict[datetime, str] = {}  # the few instants a guarded route shows, formatted once
_RFC3339_MAX = 4096


def rfc3339(value: datetime) -> str:
    """`2026-01-02T03:04:05Z`. `/auth/me` shows the same three instants of a session on every
    call, so they are remembered (a bounded table, emptied when full: clients cannot grow it)."""
    text = _RFC3339.get(value)
    if text is None:
        if len(_RFC3339) >= _RFC3339_MAX:
            _RFC3339.clear()
        text = _RFC3339[value] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


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
PASSWORD_MIN_LENGTH = policy.MIN_LENGTH  # characters; the 72-byte rule stays a 422
PASSWORD_MAX_LENGTH = policy.MAX_BYTES
PASSWORD_POLICY = (
    f"Password policy: at least {policy.MIN_LENGTH} characters and at most {policy.MAX_BYTES} bytes in UTF-8 "
    "(bcrypt's limit: longer is refused, never truncated), counted after NFC normalisation; not one of the "
    "10,000 most common passwords; not containing the local part of the account's email address when that "
    f"is {policy.MIN_LOCAL_PART_TO_CHECK} characters or longer (case-insensitively); at least "
    f"{policy.MIN_CLASSES} of the 4 character classes (lower case, upper case, digits, symbols) unless it "
    f"is {policy.LONG_ENOUGH_FOR_ANY_CLASSES} characters or longer; at least {policy.MIN_DISTINCT} different "
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
        description="An email address. Trimmed, and compared case-insensitively after Unicode (NFKC) folding, "
        "so `ADA@example.com` and `ada@example.com` are one account",
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
DeviceNameField = Annotated[
    str,
    doc(
        "A name for this device, shown in the session list and the security activity. Default: one made "
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
UserIdField = Annotated[str, doc("The user's id (a UUID)", samples.USER_ID)]
SessionIdField = Annotated[str, doc("The session's id (a UUID)", samples.SESSION_ID)]
CreatedAtField = Annotated[str, doc("When the account was created (RFC 3339, UTC)", samples.CREATED_AT)]
StoredEmailField = Annotated[
    str, doc("The address as given at registration (trimmed, NFC); mail goes there", samples.EMAIL)
]
SessionCreatedField = Annotated[str, doc("When the session was opened: its login or registration", samples.NOW)]
LastUsedField = Annotated[str, doc("When the session last got new tokens: its login or latest refresh", samples.NOW)]
SessionExpiresField = Annotated[
    str,
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


@hide_secrets
class RegisterBody(msgspec.Struct, frozen=True):
    email: EmailField
    password: PasswordField
    device_name: DeviceNameField | None = None
    refresh_token_transport: TransportField = "body"  # browser mode: "cookie"


@hide_secrets
class LoginBody(msgspec.Struct, frozen=True):
    email: EmailField
    password: CurrentPasswordField
    device_name: DeviceNameField | None = None
    refresh_token_transport: TransportField = "body"  # browser mode: "cookie"
    # hardening (issue 11): from an earlier login's response, so other clients' failures do not lock it out
    device_token: (
        Annotated[
            str,
            doc(
                "The `device_token` of an earlier login or registration on this device, for this account. With "
                "it, other clients' failed guesses at the account do not lock this device out (its own failures "
                "still count)",
                samples.DEVICE_TOKEN,
                max_length=DEVICE_TOKEN_MAX_LENGTH,
            ),
        ]
        | None
    ) = None


@hide_secrets
class RefreshBody(msgspec.Struct, frozen=True):
    refresh_token: RefreshTokenField | msgspec.UnsetType = msgspec.UNSET  # absent: the refresh cookie (browser mode)


class ForgotPasswordBody(msgspec.Struct, frozen=True):
    email: EmailField


@hide_secrets
class ResetPasswordBody(msgspec.Struct, frozen=True):
    token: ResetTokenField
    new_password: NewPasswordField


@hide_secrets
class ChangePasswordBody(msgspec.Struct, frozen=True):
    current_password: CurrentPasswordField
    new_password: NewPasswordField


class UserOut(msgspec.Struct, frozen=True):
    id: UserIdField
    email: StoredEmailField
    created_at: CreatedAtField


@hide_secrets
class TokenResponse(msgspec.Struct, frozen=True):
    access_token: Annotated[
        str,
        doc(
            "The access token, a signed JWT (`typ: at+jwt`): send it as `Authorization: Bearer <access_token>`",
            samples.ACCESS_TOKEN,
        ),
    ]
    expires_in: Annotated[int, doc("Seconds until the access token expires (900 by default)", 900)]
    refresh_expires_in: Annotated[
        int,
        doc(
            "Seconds until the refresh token just issued expires: the refresh lifetime (7 days by default), or "
            "less when the session's absolute lifetime ends sooner",
            604800,
        ),
    ]
    session_id: Annotated[
        str, doc("The session these tokens belong to; it stays the same across refreshes", samples.SESSION_ID)
    ]
    user: UserOut
    token_type: Annotated[str, doc("Always `Bearer`", "Bearer")] = "Bearer"
    refresh_token: (
        Annotated[
            str,
            doc(
                "The refresh token (opaque), the one credential of `POST /auth/refresh`. It rotates: use it once, "
                "keep the new one. Absent in browser mode, where it travels in the `Set-Cookie` header instead",
                samples.REFRESH_TOKEN,
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET  # absent in browser mode: it is in the cookie
    # register and login only (hardening, issue 11); absent from refresh responses
    device_token: (
        Annotated[
            str,
            doc(
                "Register and login only: names this device for this account for 90 days. Keep it on the device "
                "and send it back as `device_token` when logging in. A credential for nothing else",
                samples.DEVICE_TOKEN,
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class SessionOut(msgspec.Struct, frozen=True):
    id: SessionIdField
    device_name: Annotated[
        str, doc("The device's name, as given at login or made from its User-Agent", samples.DEVICE_NAME)
    ]
    created_at: SessionCreatedField
    last_used_at: LastUsedField
    expires_at: SessionExpiresField
    current: Annotated[bool, doc("True for the session of the access token that made this request", True)]


class MeSession(msgspec.Struct, frozen=True):
    id: SessionIdField
    access_token_expires_at: Annotated[
        str, doc("When the access token of this request expires (RFC 3339, UTC)", samples.ACCESS_TOKEN_EXPIRES_AT)
    ]
    refresh_expires_at: Annotated[
        str, doc("When the session's refresh token expires, unless refreshed before", samples.REFRESH_EXPIRES_AT)
    ]


class MeUser(msgspec.Struct, frozen=True):
    user: UserOut
    session: MeSession
    kind: Annotated[Literal["user"], msgspec.Meta(description="`user`: the caller sent a user's access token")] = "user"


class ApiKeyOut(msgspec.Struct, frozen=True):
    id: Annotated[str, doc("The API key's id (a UUID)", samples.API_KEY_ID)]
    name: Annotated[str, doc("The name the operator gave the key", samples.API_KEY_NAME)]


class MeApiKey(msgspec.Struct, frozen=True):
    api_key: ApiKeyOut
    kind: Annotated[Literal["api_key"], msgspec.Meta(description="`api_key`: the caller sent an API key")] = "api_key"


class Status(msgspec.Struct, frozen=True):
    status: HealthState


class DependencyOut(msgspec.Struct, frozen=True):
    status: HealthState
    latency_ms: Annotated[float, doc("How long the check took, in milliseconds", 1.27)]
    error: (
        Annotated[str, doc("Why the check failed (the error's type); null when it passed", "TimeoutError")] | None
    ) = None


class HealthOut(msgspec.Struct, frozen=True):
    status: HealthState
    dependencies: Annotated[
        dict[str, DependencyOut],
        doc("Each dependency by name: `database` and `session_store`"),
    ]


class FieldErrorOut(msgspec.Struct, frozen=True):
    field: Annotated[str, doc("The request field at fault", "password")]
    message: Annotated[str, doc("What is wrong with it, for people", "is one of the most common passwords")]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: Annotated[
        str, doc("A URI naming the problem: `urn:musicez:problem:<code>`", "urn:musicez:problem:token_revoked")
    ]
    title: Annotated[
        str, doc("A short summary of the problem type, for people", "The session of this access token has ended")
    ]
    status: Annotated[int, doc("The HTTP status code, as in the response", 401)]
    detail: Annotated[
        str,
        doc(
            "This occurrence, and what the client can do about it, for people",
            "Log in again: this session was ended (see `reason`)",
        ),
    ]
    code: Annotated[str, doc("The stable, machine-readable reason: program against this", "token_revoked")]
    errors: (
        Annotated[
            list[FieldErrorOut],
            doc("`validation_error` and `weak_password` only: one entry per field error, or per failed rule"),
        ]
        | None
    ) = None
    reason: (
        Annotated[
            str,
            doc(
                "`token_revoked` and `invalid_refresh_token` for a session that ended: why it ended (`logout`, "
                "`logout_all`, `ended_from_other_device`, `password_changed`, `password_reset`, `reuse_detected`, "
                "`account_disabled`, `admin_logout`, `not_me`, `expired` or `max_age`)",
                "password_changed",
            ),
        ]
        | None
    ) = None  # why the session ended (token_revoked, invalid_refresh_token)


# -- account administration (v1.1, issue 14) ------------------------------------------------

DisabledField = Annotated[bool, doc("Whether the account is disabled (no login, refresh or password reset)", False)]
DisabledReasonField = (
    Annotated[str, doc("Why it was disabled, as the admin said; null when enabled", samples.DISABLED_REASON)] | None
)
LastLoginField = Annotated[str, doc("When the user last logged in (RFC 3339, UTC); null if never", samples.NOW)] | None


class AdminUserOut(msgspec.Struct, frozen=True):
    id: UserIdField
    email: StoredEmailField
    created_at: CreatedAtField
    disabled: DisabledField
    disabled_reason: DisabledReasonField
    last_login_at: LastLoginField


class AdminUserPage(msgspec.Struct, frozen=True):
    items: Annotated[
        list[AdminUserOut],
        doc("Accounts in creation order (oldest first)"),
    ]
    next_cursor: (
        Annotated[str, doc("Send as `cursor` to get the next page; null on the last page", samples.USERS_CURSOR)] | None
    )


class AdminSessionOut(msgspec.Struct, frozen=True):
    id: SessionIdField
    device_name: Annotated[
        str, doc("The device's name, as given at login or made from its User-Agent", samples.DEVICE_NAME)
    ]
    created_at: SessionCreatedField
    last_used_at: LastUsedField
    expires_at: SessionExpiresField


class AdminUserDetails(msgspec.Struct, frozen=True):
    id: UserIdField
    email: StoredEmailField
    created_at: CreatedAtField
    disabled: DisabledField
    disabled_reason: DisabledReasonField
    last_login_at: LastLoginField
    sessions: Annotated[
        list[AdminSessionOut],
        doc("The user's live sessions"),
    ]


class DisableUserBody(msgspec.Struct, frozen=True):
    reason: (
        Annotated[
            str,
            doc(
                "Why the account is disabled: kept with the account, shown to admins and in the logs",
                samples.DISABLED_REASON,
                max_length=500,
            ),
        ]
        | None
    ) = None


# -- protecting other services (v1.1, issue 17) ---------------------------------------------


class IntrospectionOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 7662 §2.2: only `active` for a token that is not (or no longer) valid."""

    active: Annotated[
        bool, doc("Whether the token is a valid access token whose session is alive; alone when false", True)
    ]
    token_type: Annotated[str, doc("Always `access_token`", "access_token")] | None = None
    sub: Annotated[str, doc("The user's id", samples.USER_ID)] | None = None
    sid: Annotated[str, doc("The session's id", samples.SESSION_ID)] | None = None
    iss: Annotated[str, doc("The token's issuer", samples.ISSUER)] | None = None
    aud: Annotated[str, doc("The token's audience", samples.AUDIENCE)] | None = None
    iat: Annotated[int, doc("When the token was issued (seconds since the epoch)", samples.ACCESS_TOKEN_IAT)] | None = (
        None
    )
    exp: Annotated[int, doc("When the token expires (seconds since the epoch)", samples.ACCESS_TOKEN_EXP)] | None = None
    jti: Annotated[str, doc("The token's own id", samples.ACCESS_TOKEN_ID)] | None = None


# -- security activity (issue 15) -----------------------------------------------------------


class ActivityItemOut(msgspec.Struct, frozen=True):
    id: Annotated[str, doc("The event's id (a UUID)", samples.ACTIVITY_ID)]
    type: Annotated[
        str,
        doc(
            "What happened: `login`, `login_failed`, `logout`, `session_ended`, `refresh_reuse_detected`, "
            "`password_changed`, `password_reset`, `account_disabled` or `account_enabled`",
            "login",
        ),
    ]
    at: Annotated[str, doc("When it happened (RFC 3339, UTC)", samples.NOW)]
    session_id: Annotated[str, doc("The session it concerns, if any", samples.SESSION_ID)] | None
    device_name: Annotated[str, doc("That session's device name, if any", samples.DEVICE_NAME)] | None
    new_device: (
        Annotated[bool, doc("Logins only: whether the device name was new for this account in the last 90 days", True)]
        | None
    )
    detail: Annotated[
        dict[str, str],
        doc(
            "More about it: `reason` for `session_ended` (why the session ended), `by: admin` for an admin's action",
            {"reason": "ended_from_other_device"},
        ),
    ]


class ActivityPage(msgspec.Struct, frozen=True):
    items: Annotated[
        list[ActivityItemOut],
        doc("The caller's security events, newest first"),
    ]
    next_cursor: (
        Annotated[
            str, doc("Send as `cursor` to get the next (older) page; null on the last page", samples.ACTIVITY_CURSOR)
        ]
        | None
    )


class NotMeBody(msgspec.Struct, frozen=True):
    token: Annotated[
        str,
        doc(
            'The token of the link in the "new sign-in" email (its `token` query parameter): single-use, '
            "valid for 7 days",
            samples.SECURITY_TOKEN,
            max_length=128,
        ),
    ]
