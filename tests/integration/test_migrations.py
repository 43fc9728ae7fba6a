"""The migrations on a fresh Postgres database: every revision goes up, down and up again
(the "stairway"), and at head the schema is exactly what the models declare."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.sql.database import build_engine
from musicez.adapters.sql.migrate import MIGRATIONS, current_revision, head_revision, history
from musicez.adapters.sql.models import metadata
from tests.support.databases import create_database, drop_database
from tests.support.services import Services


@pytest.fixture
async def fresh_engine(services: Services) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty Postgres database of this test's own."""
    url = await create_database(services.database_url, prefix="musicez_migrations")
    engine = build_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(services.database_url, url)


def _alembic(connection: Connection, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, action, revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema(connection: Connection) -> dict[str, Any]:
    """What a revision leaves behind: tables with their columns, indexes and constraints."""
    found = inspect(connection)
    return {
        table: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)),
            sorted(
                (i["name"] or "", tuple(map(str, i["column_names"])), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            sorted(u["name"] or "" for u in found.get_unique_constraints(table)),
            sorted(f["name"] or "" for f in found.get_foreign_keys(table)),
            sorted(c["name"] or "" for c in found.get_check_constraints(table)),
        )
        for table in sorted(found.get_table_names())
    }


async def test_the_history_is_one_line_ending_at_head() -> None:
    migrations = history()
    assert migrations, "no migrations shipped"
    assert migrations[0].down_revision is None
    for older, newer in itertools.pairwise(migrations):
        assert newer.down_revision == older.revision, newer
    assert migrations[-1].revision == head_revision()


async def test_every_revision_goes_up_down_and_up_again(fresh_engine: AsyncEngine) -> None:
    """Each downgrade undoes its upgrade completely: after up, down, up the schema is the same
    as after the first up, and the next revision applies on top of it."""
    for migration in history():
        await _migrate(fresh_engine, "upgrade", migration.revision)
        async with fresh_engine.connect() as connection:
            after_upgrade = await connection.run_sync(_schema)

        await _migrate(fresh_engine, "downgrade", migration.down_revision or "base")
        assert await current_revision(fresh_engine) == migration.down_revision, migration

        await _migrate(fresh_engine, "upgrade", migration.revision)
        assert await current_revision(fresh_engine) == migration.revision, migration
        async with fresh_engine.connect() as connection:
            assert await connection.run_sync(_schema) == after_upgrade, migration

    await _migrate(fresh_engine, "downgrade", "base")
    async with fresh_engine.connect() as connection:
        assert await connection.run_sync(_tables) <= {"alembic_version"}


async def test_reading_the_revision_logs_nothing(fresh_engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    """The readiness probe reads it every time: through Alembic's `MigrationContext` each read
    logged "Context impl PostgresqlImpl." and "Will assume transactional DDL." at INFO."""
    with caplog.at_level(logging.DEBUG):
        assert await current_revision(fresh_engine) is None
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
    await _migrate(fresh_engine, "upgrade", "head")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert await current_revision(fresh_engine) == head_revision()
    logged += [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]
    assert not logged


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def test_the_models_match_the_migrations(fresh_engine: AsyncEngine) -> None:
    """`alembic revision --autogenerate` at head would write an empty migration."""
    await _migrate(fresh_engine, "upgrade", "head")
    async with fresh_engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
