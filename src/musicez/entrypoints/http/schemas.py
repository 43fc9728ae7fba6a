"""Request and response bodies as msgspec structs: the wire shapes of API.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RegisterBody(msgspec.Struct, frozen=True):
    email: str
    password: str
    device_name: str | None = None


class LoginBody(msgspec.Struct, frozen=True):
    email: str
    password: str
    device_name: str | None = None


class RefreshBody(msgspec.Struct, frozen=True):
    refresh_token: str


class ForgotPasswordBody(msgspec.Struct, frozen=True):
    email: str


class ResetPasswordBody(msgspec.Struct, frozen=True):
    token: str
    new_password: str


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
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    user: UserOut
    token_type: str = "Bearer"


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
