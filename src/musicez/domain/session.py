"""A login session: one per device, identified by `sid` in every access token it issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from musicez.domain.ids import SessionId, UserId


@dataclass(frozen=True, slots=True)
class Session:
    id: SessionId
    user_id: UserId
    device_name: str
    created_at: datetime
    last_used_at: datetime
    # When the current refresh token stops working (never after `absolute_expires_at`).
    refresh_expires_at: datetime
    # The session's absolute lifetime: no refresh extends it.
    absolute_expires_at: datetime
    # The account details the session was opened for, so "who am I" needs no database.
    email: str = ""
    user_created_at: datetime | None = None


class RotationOutcome(Enum):
    ROTATED = "rotated"  # the current token was presented: the successor is now current
    RETRIED = "retried"  # the token just rotated away, within the grace window: same successor
    # an older token, or the previous one too late: theft, session revoked (with a `reason`: a
    # token rotated away before the theft that already ended its session, nothing more to revoke)
    REUSED = "reused"
    INVALID = "invalid"  # unknown session or token, expired, or past the absolute lifetime
    LIMITED = "limited"  # a genuine refresh over the session's refresh limit: nothing rotated


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RotationOutcome
    session: Session | None = None
    # INVALID for a session that ended: why (an EndReason), while its tombstone lasts; REUSED
    # with `reuse_detected`: the session had ended for theft before this call.
    reason: str | None = None
    # LIMITED: seconds until the session's refresh window frees up.
    retry_after: int = 0
    # With a refresh limit: what is left of the session's window after this refresh (0 when
    # LIMITED) and when the window frees up, for the RateLimit-* headers; None: no limit applied.
    remaining: int | None = None
    reset_after: int = 0


class EndReason:
    """Why a session ended (API.md v1.1); carried by the 401 of its tokens while it would have lived."""

    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    ENDED_FROM_OTHER_DEVICE = "ended_from_other_device"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    REUSE_DETECTED = "reuse_detected"
    ACCOUNT_DISABLED = "account_disabled"
    ADMIN_LOGOUT = "admin_logout"
    NOT_ME = "not_me"
    EXPIRED = "expired"
    MAX_AGE = "max_age"
    # Internal: a login that raced a password change is undone; reported as password_changed.
