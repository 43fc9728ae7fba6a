"""Request and response bodies as msgspec structs: the wire shapes of API.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from musicez.application.devices import DEVICE_TOKEN_MAX_LENGTH
from musicez.domain.redaction import hide_secrets

# Where the refresh token travels: in the token response, or in an HttpOnly cookie (browser mode).
RefreshTokenTransport = Literal["body", "cookie"]


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@hide_secrets
class RegisterBody(msgspec.Struct, frozen=True):
    email: str
    password: str
    device_name: str | None = None
    refresh_token_transport: RefreshTokenTransport = "body"  # browser mode: "cookie"


@hide_secrets
class LoginBody(msgspec.Struct, frozen=True):
    email: str
    password: str
    device_name: str | None = None
    refresh_token_transport: RefreshTokenTransport = "body"  # browser mode: "cookie"
    # hardening (issue 11): from an earlier login's response, so other clients' failures do not lock it out
    device_token: Annotated[str, msgspec.Meta(max_length=DEVICE_TOKEN_MAX_LENGTH)] | None = None


@hide_secrets
class RefreshBody(msgspec.Struct, frozen=True):
    refresh_token: str | msgspec.UnsetType = msgspec.UNSET  # absent: the refresh cookie (browser mode)


class ForgotPasswordBody(msgspec.Struct, frozen=True):
    email: str


@hide_secrets
class ResetPasswordBody(msgspec.Struct, frozen=True):
    token: str
    new_password: str


@hide_secrets
class ChangePasswordBody(msgspec.Struct, frozen=True):
    current_password: str
    new_password: str


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
