"""Email look-alikes in the UserRepository contract (SQLite, Postgres, the fakes), and the 0004
migration on Postgres and SQLite with rows that existed before it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from musicez.adapters.sql.database import database_config, sessions
from musicez.adapters.sql.migrate import upgrade
from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.domain.email import Email
from musicez.domain.errors import EmailTaken
from musicez.domain.user import User
from tests.contract.test_repositories import MakeUow, make_uow, new_user, stored_user  # noqa: F401
from tests.support.databases import create_database, drop_database
from tests.support.services import Services

FULL_WIDTH = str.maketrans({c: chr(ord(c) - 0x20 + 0xFF00) for c in "abcdefghijklmnopqrstuvwxyz0123456789"})


async def add(make_uow: MakeUow, user: User) -> None:  # noqa: F811
    async with make_uow() as uow:
        await uow.users.add(user)
        await uow.commit()


def tag() -> str:
    return uuid.uuid4().hex[:10]


async def test_a_full_width_look_alike_is_the_same_account(make_uow: MakeUow) -> None:  # noqa: F811
    local = f"alice{tag()}"
    user = await stored_user(make_uow, f"{local}@example.com")
    async with make_uow() as uow:
        found = await uow.users.get_by_email(Email.parse(f"{local.translate(FULL_WIDTH)}@example.com"))
    assert found is not None
    assert found.id == user.id
    assert found.email.value == f"{local}@example.com"  # the address as given is kept
    with pytest.raises(EmailTaken):
        await add(make_uow, new_user(f"{local.translate(FULL_WIDTH)}@EXAMPLE.com"))


async def test_case_folding_makes_strasse_one_account(make_uow: MakeUow) -> None:  # noqa: F811
    suffix = tag()
    user = await stored_user(make_uow, f"Stra\u00dfe-{suffix}@example.com")
    async with make_uow() as uow:
        found = await uow.users.get_by_email(Email.parse(f"STRASSE-{suffix.upper()}@example.com"))
        assert found is not None
        assert found.id == user.id
        assert found.email.value == f"Stra\u00dfe-{suffix}@example.com"
    with pytest.raises(EmailTaken):
        await add(make_uow, new_user(f"strasse-{suffix}@example.com"))


async def test_concurrent_look_alike_registrations_one_wins(make_uow: MakeUow) -> None:  # noqa: F811
    local = f"bob{tag()}"
    spellings = [f"{local}@example.com", f"{local.translate(FULL_WIDTH)}@example.com", f"{local.upper()}@EXAMPLE.COM"]

    async def register(address: str) -> None:
        async with make_uow() as uow:
            await uow.users.add(new_user(address))
            await asyncio.sleep(0.05)
            await uow.commit()

    results = await asyncio.gather(*(register(a) for a in spellings), return_exceptions=True)
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, EmailTaken) for r in results if r is not None), results


# --- the migration ----------------------------------------------------------------------------

OLD = datetime(2026, 1, 1, tzinfo=UTC)


async def _migrate_with_old_rows(url: str) -> None:
    config = database_config(url)
    engine = config.get_engine()
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as connection:
            rows = [
                (uuid.UUID(int=1), "Ada@Example.com", OLD),
                (uuid.UUID(int=2), "stra\u00dfe@example.com", OLD + timedelta(days=1)),
                (uuid.UUID(int=3), "\uff41\uff44\uff41@example.com", OLD + timedelta(days=2)),  # full-width ada
            ]
            for user_id, email, created in rows:
                await connection.execute(
                    text(
                        "INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at) "
                        "VALUES (:id, :email, 'hash', false, :created, :created)"
                    ),
                    {
                        "id": user_id if engine.dialect.name == "postgresql" else user_id.bytes,
                        "email": email,
                        "created": created,
                    },
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT email, email_key FROM users ORDER BY created_at"))
            keys: dict[str, str] = {row.email: row.email_key for row in result}
        assert keys["Ada@Example.com"] == "ada@example.com"
        assert keys["stra\u00dfe@example.com"] == "strasse@example.com"
        # the younger look-alike keeps its row, under a key no address produces
        assert keys["\uff41\uff44\uff41@example.com"].startswith("ada@example.com#duplicate:")

        maker = sessions(config)
        async with SqlUnitOfWork(maker) as uow:
            found = await uow.users.get_by_email(Email.parse("\uff41\uff44\uff41@EXAMPLE.com"))
            assert found is not None
            assert found.id == uuid.UUID(int=1)
            assert found.email.value == "Ada@Example.com"
            assert (await uow.users.get_by_email(Email.parse("STRASSE@example.com"))) is not None
        with pytest.raises(EmailTaken):
            await add(lambda: SqlUnitOfWork(maker), new_user("ADA@example.com"))
    finally:
        await engine.dispose()


async def test_the_migration_backfills_existing_rows_on_postgres(services: Services) -> None:
    url = await create_database(services.database_url, prefix="musicez_migration")
    try:
        await _migrate_with_old_rows(url)
    finally:
        await drop_database(services.database_url, url)


async def test_the_migration_backfills_existing_rows_on_sqlite(tmp_path: Path) -> None:
    await _migrate_with_old_rows(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
