"""Bodies of the security activity and the "this wasn't me" link (issue 15)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from musicez.entrypoints.http import samples
from musicez.entrypoints.http.schemas.fields import SecurityTokenField, doc

# -- security activity (issue 15) -----------------------------------------------------------


class ActivityItemOut(msgspec.Struct, frozen=True):
    id: Annotated[UUID, doc("The event's id (a UUID)", samples.ACTIVITY_ID)]
    type: Annotated[
        str,
        doc(
            "What happened: `login`, `login_failed`, `logout`, `session_ended`, `refresh_reuse_detected`, "
            "`password_changed`, `password_reset`, `account_disabled` or `account_enabled`",
            "login",
        ),
    ]
    at: Annotated[datetime, doc("When it happened (RFC 3339, UTC)", samples.NOW)]
    session_id: Annotated[UUID, doc("The session it concerns, if any", samples.SESSION_ID)] | None
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
    # documented, not enforced (as the reset token): any string that is no live link's token is
    # 400 invalid_security_token (API.md), an over-long one too, never validation_error
    token: SecurityTokenField
