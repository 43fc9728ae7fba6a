"""Alembic environment: runs on the connection handed over by `musicez.adapters.sql.migrate`."""

from __future__ import annotations

from alembic import context

from musicez.adapters.sql.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `musicez db upgrade`, which supplies the connection.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
