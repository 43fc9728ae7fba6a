"""Account administration: API-key scopes, disabled reason, last login (issue 14).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:  # batch: SQLite cannot alter in place
        table.add_column(sa.Column("scope", sa.String(length=16), server_default="api", nullable=False))
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("disabled_reason", sa.String(length=500), nullable=True))
        table.add_column(sa.Column("disabled_at", DateTimeUTC(timezone=True), nullable=True))
        table.add_column(sa.Column("last_login_at", DateTimeUTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.drop_column("last_login_at")
        table.drop_column("disabled_at")
        table.drop_column("disabled_reason")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("scope")
