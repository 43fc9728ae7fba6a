"""Request and response bodies as msgspec structs: the wire shapes of API.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar.params import ParameterKwarg, PathParameter

from musicez.application.devices import DEVICE_TOKEN_MAX_LENGTH
from musicez.domain.redaction import hide_secrets

# Where the refresh token travels: in the token response, or in an HttpOnly cookie (browser mode).
RefreshTokenTransport = Literal["body", "cookie"]


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the real constraints of each field, stated in the OpenAPI document (API.md, Hardening v1.1) --
# `ParameterKwarg(...)` only documents: the route decides, with its own code (an address that is not
# one is 400 on register and forgot but 401 on login; a short password is 422 weak_password,
# listing every failed rule). `msgspec.Meta(...)` also enforces, as 400 validation_error. So a
# request the document calls valid is never a 400 validation_error, and every request it calls
# invalid is refused with a 4xx.
EMAIL_MAX_LENGTH = 254
PASSWORD_MIN_LENGTH = 12  # characters; the 72-byte rule stays a 422
PASSWORD_MAX_LENGTH = 72
EmailField = Annotated[
    str, ParameterKwarg(format="email", min_length=3, max_length=EMAIL_MAX_LENGTH, description="An email address")
]
PasswordField = Annotated[
    str,
    ParameterKwarg(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        description="At least 12 characters and at most 72 bytes in UTF-8 (NFC)",
    ),
]
RefreshTokenField = Annotated[str, ParameterKwarg(min_length=1, max_length=512)]
ResetTokenField = Annotated[str, ParameterKwarg(min_length=1, max_length=128)]
DeviceNameField = Annotated[str, msgspec.Meta(max_length=200)]
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
    refresh_token_transport: RefreshTokenTransport = "body"  # browser mode: "cookie"


@hide_secrets
class LoginBody(msgspec.Struct, frozen=True):
    email: EmailField
    password: PasswordField
    device_name: DeviceNameField | None = None
    refresh_token_transport: RefreshTokenTransport = "body"  # browser mode: "cookie"
    # hardening (issue 11): from an earlier login's response, so other clients' failures do not lock it out
    device_token: Annotated[str, msgspec.Meta(max_length=DEVICE_TOKEN_MAX_LENGTH)] | None = None


@hide_secrets
class RefreshBody(msgspec.Struct, frozen=True):
    refresh_token: RefreshTokenField | msgspec.UnsetType = msgspec.UNSET  # absent: the refresh cookie (browser mode)


class ForgotPasswordBody(msgspec.Struct, frozen=True):
    email: EmailField


@hide_secrets
class ResetPasswordBody(msgspec.Struct, frozen=True):
    token: ResetTokenField
    new_password: PasswordField


@hide_secrets
class ChangePasswordBody(msgspec.Struct, frozen=True):
    current_password: PasswordField
    new_password: PasswordField


class UserOut(msgspec.Struct, frozen=True):
    id: str
    email: str
    created_at: str


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str
    user: UserOut
    token_type: str = "Bearer"
    refresh_token: str | msgspec.UnsetType = msgspec.UNSET  # absent in browser mode: it is in the cookie
    # register and login only (hardening, issue 11); absent from refresh responses
    device_token: str | msgspec.UnsetType = msgspec.UNSET


class SessionOut(msgspec.Struct, frozen=True):
    id: str
    device_name: str
    created_at: str
    last_used_at: str
    expires_at: str
    current: bool


class MeSession(msgspec.Struct, frozen=True):
    id: str
    access_token_expires_at: str
    refresh_expires_at: str


class MeUser(msgspec.Struct, frozen=True):
    user: UserOut
    session: MeSession
    kind: Literal["user"] = "user"


class ApiKeyOut(msgspec.Struct, frozen=True):
    id: str
    name: str


class MeApiKey(msgspec.Struct, frozen=True):
    api_key: ApiKeyOut
    kind: Literal["api_key"] = "api_key"


class Status(msgspec.Struct, frozen=True):
    status: Literal["ok", "unavailable"]


class DependencyOut(msgspec.Struct, frozen=True):
    status: Literal["ok", "unavailable"]
    latency_ms: float
    error: str | None = None


class HealthOut(msgspec.Struct, frozen=True):
    status: Literal["ok", "unavailable"]
    dependencies: dict[str, DependencyOut]


class FieldErrorOut(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldErrorOut] | None = None
    reason: str | None = None  # why the session ended (token_revoked, invalid_refresh_token)


# -- account administration (v1.1, issue 14) ------------------------------------------------


class AdminUserOut(msgspec.Struct, frozen=True):
    id: str
    email: str
    created_at: str
    disabled: bool
    disabled_reason: str | None
    last_login_at: str | None


class AdminUserPage(msgspec.Struct, frozen=True):
    items: list[AdminUserOut]
    next_cursor: str | None


class AdminSessionOut(msgspec.Struct, frozen=True):
    id: str
    device_name: str
    created_at: str
    last_used_at: str
    expires_at: str


class AdminUserDetails(msgspec.Struct, frozen=True):
    id: str
    email: str
    created_at: str
    disabled: bool
    disabled_reason: str | None
    last_login_at: str | None
    sessions: list[AdminSessionOut]


class DisableUserBody(msgspec.Struct, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# -- protecting other services (v1.1, issue 17) ---------------------------------------------


class IntrospectionOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 7662 §2.2: only `active` for a token that is not (or no longer) valid."""

    active: bool
    token_type: str | None = None
    sub: str | None = None
    sid: str | None = None
    iss: str | None = None
    aud: str | None = None
    iat: int | None = None
    exp: int | None = None
    jti: str | None = None


# -- security activity (issue 15) -----------------------------------------------------------


class ActivityItemOut(msgspec.Struct, frozen=True):
    id: str
    type: str
    at: str
    session_id: str | None
    device_name: str | None
    new_device: bool | None
    detail: dict[str, str]


class ActivityPage(msgspec.Struct, frozen=True):
    items: list[ActivityItemOut]
    next_cursor: str | None


class NotMeBody(msgspec.Struct, frozen=True):
    token: Annotated[str, msgspec.Meta(max_length=128)]
