"""The User entity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from musicez.domain.email import Email


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: Email
    password_hash: str
    created_at: datetime
    updated_at: datetime
    disabled: bool = False
    # v1.1 (issue 14): why and since when the account is disabled, and its last successful login.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    last_login_at: datetime | None = None
