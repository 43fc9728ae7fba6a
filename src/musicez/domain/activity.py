"""A user's security activity: what happened to the account, as the user may see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from musicez.domain.ids import SessionId, UserId

# A device label counts as known when the account logged in with it this recently.
NEW_DEVICE_WINDOW = timedelta(days=90)


class ActivityType:
    """The `type` of an activity item (API.md v1.1)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SESSION_ENDED = "session_ended"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"


@dataclass(frozen=True, slots=True)
class ActivityItem:
    id: UUID  # UUIDv7: time-ordered, the tie-breaker of the feed's order
    user_id: UserId
    type: str
    at: datetime
    session_id: SessionId | None = None
    device_name: str | None = None
    new_device: bool | None = None  # logins only
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActivityCursor:
    """Where a page of the feed ended: the last item's time and id (newest first)."""

    at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class SecurityLink:
    """A single-use "this wasn't me" link, naming the session it ends."""

    user_id: UserId
    session_id: SessionId
