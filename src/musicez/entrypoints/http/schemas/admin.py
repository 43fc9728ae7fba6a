"""Bodies of account administration (v1.1, issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from musicez.entrypoints.http import samples
from musicez.entrypoints.http.schemas.fields import (
    CreatedAtField,
    LastUsedField,
    SessionCreatedField,
    SessionExpiresField,
    SessionIdField,
    StoredEmailField,
    UserIdField,
    doc,
)

# -- account administration (v1.1, issue 14) ------------------------------------------------

DisabledField = Annotated[bool, doc("Whether the account is disabled (no login, refresh or password reset)", False)]


DisabledReasonField = (
    Annotated[str, doc("Why it was disabled, as the admin said; null when enabled", samples.DISABLED_REASON)] | None
)


LastLoginField = (
    Annotated[datetime, doc("When the user last logged in (RFC 3339, UTC); null if never", samples.NOW)] | None
)


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
