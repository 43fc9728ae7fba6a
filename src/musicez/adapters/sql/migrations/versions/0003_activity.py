"""Security activity and security-link tokens (issue 15).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("session_id", GUID(length=16), nullable=True),
        sa.Column("device_name", sa.String(length=100), nullable=True),
        sa.Column("new_device", sa.Boolean(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_activity_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    op.create_index("ix_activity_user_at_id", "activity", ["user_id", sa.text("at DESC"), "id"])
    op.create_index("ix_activity_at", "activity", ["at"])
    op.create_table(
        "security_links",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("session_id", GUID(length=16), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_security_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_security_links_token_hash")),
    )
    op.create_index("ix_security_links_user_id", "security_links", ["user_id"])
    op.create_index("ix_security_links_expires_at", "security_links", ["expires_at"])


def downgrade() -> None:
    op.drop_table("security_links")
    op.drop_table("activity")
