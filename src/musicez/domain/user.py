"""The User entity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from musicez.domain.email import Email
from musicez.domain.ids import UserId


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    email: Email
    password_hash: str
    created_at: datetime
    updated_at: datetime
    disabled: bool = False
    # v1.1 (issue 14): why and since when the account is disabled, and its last successful login.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    last_login_at: datetime | None = None
