"""Email look-alikes (issue 11): `users.email_key`, NFKC + case folding of the address, with a
unique index in place of `uq_users_email_lower`; existing rows are backfilled.

Two existing accounts whose addresses only now compare equal (say `alice@` and `alice@` in
full-width letters) both survive: the older one keeps the key (and the login), each later one gets
a key no address can produce (`<key>#duplicate:<id>`, a `#` after the domain), and is listed
in the migration's log for an operator to resolve.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("musicez.migrations")


def _key(address: str) -> str:
    """A frozen copy of `musicez.domain.email.email_key` as of this revision."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())


def upgrade() -> None:
    bind = op.get_bind()
    op.drop_index("uq_users_email_lower", table_name="users")
    op.add_column("users", sa.Column("email_key", sa.String(length=1024), nullable=True))
    users = sa.table("users", sa.column("id"), sa.column("email"), sa.column("email_key"), sa.column("created_at"))
    taken: set[str] = set()
    rows = bind.execute(sa.select(users.c.id, users.c.email).order_by(users.c.created_at, users.c.id)).all()
    for user_id, email in rows:
        key = _key(email)
        if key in taken:
            log.warning("users: %s compares equal to an older account's address; it keeps a duplicate key", user_id)
            key = f"{key}#duplicate:{user_id}"
        taken.add(key)
        bind.execute(sa.update(users).where(users.c.id == user_id).values(email_key=key))
    if bind.dialect.name != "sqlite":  # SQLite would rebuild the table (and cascade its foreign keys)
        op.alter_column("users", "email_key", existing_type=sa.String(length=1024), nullable=False)
    op.create_index("uq_users_email_key", "users", ["email_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_email_key", table_name="users")
    op.drop_column("users", "email_key")
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
