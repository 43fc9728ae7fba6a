"""Bodies of registration, login, refresh, sessions and `/auth/me`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from musicez.application.devices import DEVICE_TOKEN_MAX_LENGTH
from musicez.domain.redaction import hide_secrets
from musicez.entrypoints.http import samples
from musicez.entrypoints.http.schemas.fields import (
    CreatedAtField,
    CurrentPasswordField,
    DeviceNameField,
    EmailField,
    LastUsedField,
    PasswordField,
    RefreshTokenField,
    SessionCreatedField,
    SessionExpiresField,
    SessionIdField,
    StoredEmailField,
    TransportField,
    UserIdField,
    doc,
)


@hide_secrets
class RegisterBody(msgspec.Struct, frozen=True):
    """Email and password, and where the session they open goes: registration's body, and login's."""

    email: EmailField
    password: PasswordField
    device_name: DeviceNameField | None = None
    refresh_token_transport: TransportField = "body"  # browser mode: "cookie"


@hide_secrets
class LoginBody(RegisterBody, frozen=True):
    """Registration's fields, the password documented as the account's own, and a device token."""

    password: CurrentPasswordField  # checked against the account, not against the policy
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
        UUID, doc("The session these tokens belong to; it stays the same across refreshes", samples.SESSION_ID)
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
        datetime, doc("When the access token of this request expires (RFC 3339, UTC)", samples.ACCESS_TOKEN_EXPIRES_AT)
    ]
    refresh_expires_at: Annotated[
        datetime, doc("When the session's refresh token expires, unless refreshed before", samples.REFRESH_EXPIRES_AT)
    ]


class MeUser(msgspec.Struct, frozen=True):
    user: UserOut
    session: MeSession
    kind: Annotated[Literal["user"], msgspec.Meta(description="`user`: the caller sent a user's access token")] = "user"


class ApiKeyOut(msgspec.Struct, frozen=True):
    id: Annotated[UUID, doc("The API key's id (a UUID)", samples.API_KEY_ID)]
    name: Annotated[str, doc("The name the operator gave the key", samples.API_KEY_NAME)]


class MeApiKey(msgspec.Struct, frozen=True):
    api_key: ApiKeyOut
    kind: Annotated[Literal["api_key"], msgspec.Meta(description="`api_key`: the caller sent an API key")] = "api_key"
