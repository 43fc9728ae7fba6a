"""Fixtures for the port contracts: the adapters under test, each on its own backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from musicez.adapters.sql.database import database_config, sessions
from musicez.adapters.sql.migrate import upgrade
from tests.support.databases import create_database, drop_database
from tests.support.services import Services


@pytest.fixture(scope="session")
async def contract_sqlite_sessions(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    path: Path = tmp_path_factory.mktemp("contract-sqlite") / "musicez.db"
    config = database_config(f"sqlite+aiosqlite:///{path}")
    engine = config.get_engine()
    await upgrade(engine)
    yield sessions(config)
    await engine.dispose()


@pytest.fixture(scope="session")
async def contract_postgres_sessions(services: Services) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A Postgres database of the contract suite's own, so no other test's rows show up."""
    url = await create_database(services.database_url, prefix="musicez_contract")
    config = database_config(url, pool_size=2)
    engine = config.get_engine()
    try:
        await upgrade(engine)
        yield sessions(config)
    finally:
        await engine.dispose()
        await drop_database(services.database_url, url)


@pytest.fixture
def event_loop_for_hypothesis() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop of the test's own, for a synchronous Hypothesis test that drives it example by example
    (a state machine step by step)."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()
