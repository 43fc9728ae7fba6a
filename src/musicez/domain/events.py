"""Security events: one frozen class per event the service records (log line + counter).

`name` is the event as logged and counted (`musicez_security_events_total{event=…}`); the
fields, in declaration order, are its log fields, a field left `None` is not logged. Ids and
prefixes only, never a secret. The catalogue in docs/PRODUCTION.md is checked against this
module (`tests/unit/test_events.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEvent:
    name: ClassVar[str]

    def fields(self) -> dict[str, object]:
        """The log fields, in declaration order, without those left `None`."""
        return {f.name: value for f in dataclasses.fields(self) if (value := getattr(self, f.name)) is not None}


def catalogue() -> dict[str, type[SecurityEvent]]:
    """Every event class of this module by name (not `__subclasses__`: a slotted dataclass is a
    copy of the class it decorates, and the discarded original lingers until collected)."""
    return {
        value.name: value
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, SecurityEvent) and value is not SecurityEvent
    }


# Accounts and logins


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(SecurityEvent):
    name = "user_registered"
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOpened(SecurityEvent):
    """Registration's first session: a login in the activity, without a "new sign-in" mail."""

    name = "session_opened"
    user_id: str
    session_id: str
    device_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginSucceeded(SecurityEvent):
    name = "login_succeeded"
    user_id: str
    session_id: str
    device_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginFailed(SecurityEvent):
    """`reason` marks a right password refused for another cause (a racing password change)."""

    name = "login_failed"
    user_id: str | None = None
    device_name: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginThrottled(SecurityEvent):
    name = "login_throttled"
    scope: str | None = None  # "account": the per-account failure budget


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginRefused(SecurityEvent):
    name = "login_refused"
    user_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordRehashed(SecurityEvent):
    name = "password_rehashed"
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Throttled(SecurityEvent):
    name = "throttled"
    scope: str
    user_id: str | None = None
    session_id: str | None = None


# Refresh and sessions


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshRotated(SecurityEvent):
    name = "refresh_rotated"
    user_id: str
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshRetried(SecurityEvent):
    name = "refresh_retried"
    user_id: str
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshRejected(SecurityEvent):
    name = "refresh_rejected"
    user_id: str | None = None
    session_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshReused(SecurityEvent):
    name = "refresh_reused"
    user_id: str
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRevoked(SecurityEvent):
    name = "session_revoked"
    user_id: str
    session_id: str
    reason: str
    by_delete: bool = False  # `DELETE /auth/sessions/{id}`, not `POST /auth/logout`


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionsRevoked(SecurityEvent):
    name = "sessions_revoked"
    user_id: str
    count: int
    kept: str | None = None
    reason: str
    session_ids: list[str]
    by: str | None = None  # an operator's ending, applied by the server that held the sessions ("cli")


# Passwords


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetSuppressed(SecurityEvent):
    name = "password_reset_suppressed"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetRequested(SecurityEvent):
    name = "password_reset_requested"
    known: bool
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetCompleted(SecurityEvent):
    name = "password_reset_completed"
    user_id: str
    session_ids: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordResetFailed(SecurityEvent):
    name = "password_reset_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordChangeFailed(SecurityEvent):
    """A wrong current password on a change: the account's password was wrong, from a session."""

    name = "password_change_failed"
    user_id: str
    session_id: str | None = None
    device_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordChanged(SecurityEvent):
    name = "password_changed"
    user_id: str
    session_id: str
    session_ids: list[str]


# Security mails and "this wasn't me"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityMailSent(SecurityEvent):
    name = "security_mail_sent"
    kind: str
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityMailSuppressed(SecurityEvent):
    name = "security_mail_suppressed"
    kind: str
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotMeRejected(SecurityEvent):
    name = "not_me_rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotMeSessionAlreadyEnded(SecurityEvent):
    name = "not_me_session_already_ended"
    session_id: str


# API keys


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyCreated(SecurityEvent):
    name = "api_key_created"
    key_id: str
    prefix: str
    scope: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRevoked(SecurityEvent):
    name = "api_key_revoked"
    key_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyInvalid(SecurityEvent):
    name = "api_key_invalid"
    reason: str
    prefix: str | None = None
    key_id: str | None = None


# Admin actions ("cli" or the key's id in `by`, and its prefix)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminUsersListed(SecurityEvent):
    name = "admin_users_listed"
    by: str
    key_prefix: str | None = None
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminUserViewed(SecurityEvent):
    name = "admin_user_viewed"
    user_id: str
    by: str
    key_prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDisabled(SecurityEvent):
    name = "account_disabled"
    user_id: str
    by: str
    key_prefix: str | None = None
    reason: str | None = None
    session_ids: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountEnabled(SecurityEvent):
    name = "account_enabled"
    user_id: str
    by: str
    key_prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminLogout(SecurityEvent):
    name = "admin_logout"
    user_id: str
    by: str
    key_prefix: str | None = None
    count: int | None = None
    session_ids: list[str]
