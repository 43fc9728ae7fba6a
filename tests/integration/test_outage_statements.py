"""A database that is there but cannot answer this statement now (too slow, locked, a conflict)
is an outage (a 503 with Retry-After, as when it is down), never a 500; and a database error
never carries a statement's bound values (password hashes, token MACs) into a log line."""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.sql.database import build_engine, is_outage

SECRET = "$2b$12$" + "S3cretHashValue" * 3  # what a bound parameter may be


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(database_url)  # the service's own engine configuration
    yield engine
    await engine.dispose()


def assert_outage_without_parameters(error: DBAPIError, sqlstate: str) -> None:
    assert getattr(error.orig, "sqlstate", None) == sqlstate, error
    assert is_outage(error)
    written = "".join(traceback.format_exception(error))  # what a log line of it would hold
    assert SECRET not in written
    assert SECRET not in str(error)


async def test_a_statement_cancelled_by_the_statement_timeout_is_an_outage_naming_no_parameter(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SET statement_timeout = 50"))
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text("SELECT pg_sleep(2), CAST(:secret AS text)"), {"secret": SECRET})
    assert_outage_without_parameters(caught.value, "57014")


async def test_a_lock_wait_that_times_out_is_an_outage_naming_no_parameter(engine: AsyncEngine) -> None:
    table = f"locked_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (v text)"))
    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))  # held until rollback
        await waiter.execute(text("SET lock_timeout = 50"))
        with pytest.raises(DBAPIError) as caught:
            await waiter.execute(text(f"INSERT INTO {table} VALUES (:secret)"), {"secret": SECRET})
        await holder.rollback()
    assert_outage_without_parameters(caught.value, "55P03")


async def test_a_deadlock_is_an_outage_naming_no_parameter(engine: AsyncEngine) -> None:
    table = f"rows_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)"))
        await conn.execute(text(f"INSERT INTO {table} VALUES (1, ''), (2, '')"))
    update = text(f"UPDATE {table} SET v = :secret WHERE id = :id")
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(update, {"secret": SECRET, "id": 1})
        await second.execute(update, {"secret": SECRET, "id": 2})
        # Each now waits for the row the other holds: Postgres ends one of them (deadlock_timeout, 1 s).
        results = await asyncio.gather(
            first.execute(update, {"secret": SECRET, "id": 2}),
            second.execute(update, {"secret": SECRET, "id": 1}),
            return_exceptions=True,
        )
        await first.rollback()
        await second.rollback()
    errors = [result for result in results if isinstance(result, DBAPIError)]
    assert len(errors) == 1, results
    assert_outage_without_parameters(errors[0], "40P01")
