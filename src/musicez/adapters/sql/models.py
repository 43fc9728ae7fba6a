"""Database tables, as advanced-alchemy models."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column


class UserModel(UUIDv7AuditBase):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254))  # as given at registration (trimmed, NFC)
    password_hash: Mapped[str] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # NFKC + case folding of `email` (domain/email.py): what lookups and uniqueness compare (0004)
    email_key: Mapped[str] = mapped_column(String(1024))
    # v1.1 (issue 14, migration 0002)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    __table_args__ = (Index("uq_users_email_key", email_key, unique=True),)


class ApiKeyModel(UUIDv7AuditBase):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    rate_limit: Mapped[str | None] = mapped_column(String(32), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    scope: Mapped[str] = mapped_column(String(16), default="api", server_default="api")  # v1.1 (0002)


class PasswordResetTokenModel(UUIDv7AuditBase):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ActivityModel(UUIDv7Base):
    """A user's security activity (issue 15): no client address, by design."""

    __tablename__ = "activity"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    session_id: Mapped[UUID | None] = mapped_column(default=None)
    device_name: Mapped[str | None] = mapped_column(String(100), default=None)
    new_device: Mapped[bool | None] = mapped_column(Boolean, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_activity_user_at_id", "user_id", at.desc(), "id"),
        Index("ix_activity_at", "at"),
    )


class SecurityLinkModel(UUIDv7Base):
    """A "this wasn't me" link (issue 15), stored only as a MAC."""

    __tablename__ = "security_links"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


metadata = UserModel.metadata
