"""Bringing a database up to date with the Alembic migrations shipped in this package, and
telling whether it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x6D657A  # serialises concurrent upgrades from several workers on Postgres
_VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_READ_VERSION = text("SELECT version_num FROM alembic_version")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    """Read as Alembic reads it, without setting up its `MigrationContext`: that logs two INFO lines
    ("Context impl ...", "Will assume ...") each time, and the readiness probe reads this."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(_READ_VERSION).scalar_one_or_none()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True, slots=True)
class Migration:
    revision: str
    down_revision: str | None
    title: str


def history() -> list[Migration]:
    """Every migration shipped, oldest first."""
    script = ScriptDirectory.from_config(_config())
    found = [
        Migration(s.revision, s.down_revision if isinstance(s.down_revision, str) else None, s.doc or "")
        for s in script.walk_revisions()
    ]
    return list(reversed(found))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await revision_of(connection)


async def revision_of(connection: AsyncConnection) -> str | None:
    """The revision the database is at; None: never migrated (an empty database)."""
    return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply the pending migrations; the revision before and after."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        before = await connection.run_sync(_current)
        await connection.run_sync(_upgrade, revision)
        after = await connection.run_sync(_current)
    return before, after
