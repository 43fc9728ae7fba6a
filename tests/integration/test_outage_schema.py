"""A database whose schema is behind this code's revision (empty, or one migration short) is a
database outage like a lost connection, on real Postgres: logged once when it starts and once
when it ends, `musicez_dependency_up{dependency="database"}` at 0 while it lasts, readiness and
every use of the database 503 throughout; and it ends without a restart once the schema is
brought up to date, seen by the next probe or the next request that goes through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pytest
from advanced_alchemy.config import SQLAlchemyAsyncConfig
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.outages import DATABASE
from musicez.adapters.sql.database import SqlDatabase, database_config, sessions, translate_outages
from musicez.adapters.sql.migrate import history, upgrade
from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.domain.errors import ServiceUnavailable
from musicez.entrypoints.http.app import create_app
from tests.integration.test_ops_logs import server_log
from tests.integration.test_ops_metrics import SCRAPE_TOKEN
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings
from tests.support.databases import create_database, drop_database
from tests.support.services import Services

ROUNDS = 6  # probe/request pairs during the outage: each flipped the state before
LOST = "database unavailable ("
BACK = "database is back: serving again"
ALEMBIC_SETUP = ("Context impl", "Will assume")  # Alembic's INFO lines on each MigrationContext


@pytest.fixture(autouse=True)
def database_up_around() -> Iterator[None]:
    """`DATABASE` is one per process: each test starts with it up and leaves it so."""
    if not DATABASE.up:
        DATABASE.ok(checked=True)
    yield
    if not DATABASE.up:
        DATABASE.ok(checked=True)


@pytest.fixture
async def empty_database(services: Services) -> AsyncIterator[str]:
    url = await create_database(services.database_url, "musicez_unmigrated")
    yield url
    await drop_database(services.database_url, url)


@pytest.fixture
async def config(empty_database: str) -> AsyncIterator[SQLAlchemyAsyncConfig]:
    """An engine and sessions of their own: the operator's (`musicez db upgrade`) beside the
    server's pool, or the adapters' in the tests without a server."""
    config = database_config(empty_database, pool_size=2)
    yield config
    await config.get_engine().dispose()


@pytest.fixture
def engine(config: SQLAlchemyAsyncConfig) -> AsyncEngine:
    return config.get_engine()


async def operator_upgrade(engine: AsyncEngine) -> None:
    """`musicez db upgrade`, which keeps Alembic's INFO lines out of its output as here (in this
    process they would land in the server's log, which must not have them)."""
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        await upgrade(engine)
    finally:
        alembic.setLevel(level)


def messages(log: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in log.getvalue().splitlines() if line.strip()]


def count(log: io.StringIO, needle: str) -> int:
    return sum(needle in message for message in messages(log))


async def gauge(client: AsyncTestClient[Litestar]) -> float:
    from tests.integration.test_ops_metrics import scrape, value

    return value(await scrape(client), "musicez_dependency_up", dependency="database")


async def ready(client: AsyncTestClient[Litestar]) -> Any:
    return await client.get("/health/ready")


async def login(client: AsyncTestClient[Litestar], email: str) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})


@pytest.mark.parametrize("seen_by", ["probe", "request"])
async def test_an_empty_database_is_one_outage_until_it_is_upgraded_while_serving(
    make_settings: MakeSettings, empty_database: str, engine: AsyncEngine, seen_by: Literal["probe", "request"]
) -> None:
    settings = make_settings(
        database_url=empty_database,
        auto_migrate=False,  # as in production: `musicez db upgrade` is the operator's step
        log_format="json",
        metrics_token=SCRAPE_TOKEN,
        login_rate_limit="100000/minute",
    )
    app = create_app(settings=settings)
    email = unique_email("schema")
    with server_log() as log:
        async with AsyncTestClient(app) as client:
            assert count(log, LOST) == 1, messages(log)  # at start-up, before any probe
            assert await gauge(client) == 0.0
            for _ in range(ROUNDS):
                probe = await ready(client)
                assert probe.status_code == 503, probe.text
                assert probe.json() == {"status": "unavailable"}
                refused = await login(client, email)
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "service_unavailable"
                assert "musicez db upgrade" in refused.json()["detail"]
                assert await gauge(client) == 0.0
            assert count(log, LOST) == 1, messages(log)
            assert count(log, BACK) == 0, messages(log)
            assert "musicez db upgrade" in next(m for m in messages(log) if LOST in m)

            await operator_upgrade(engine)  # while the server runs

            if seen_by == "probe":
                assert (await ready(client)).status_code == 200
            else:  # no probe first: the first request that goes through ends it
                registered = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
                assert registered.status_code == 201, registered.text
            assert count(log, BACK) == 1, messages(log)
            assert await gauge(client) == 1.0
            for _ in range(ROUNDS):
                assert (await ready(client)).status_code == 200
            if seen_by == "probe":
                registered = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
                assert registered.status_code == 201, registered.text
            assert (await login(client, email)).status_code == 200
            assert await gauge(client) == 1.0
    assert count(log, LOST) == 1, messages(log)
    assert count(log, BACK) == 1, messages(log)
    assert not [m for m in messages(log) if m.startswith(ALEMBIC_SETUP)], messages(log)


async def test_a_schema_one_migration_short_stays_an_outage_through_successes(
    config: SQLAlchemyAsyncConfig, engine: AsyncEngine
) -> None:
    """On an old schema a query on a table it has goes through: that success must not end the
    outage (before, each one logged the database back, and the next failure lost again)."""
    previous = history()[-2].revision
    await upgrade(engine, previous)
    database = SqlDatabase(engine)
    maker = sessions(config)
    with server_log() as log:
        for _ in range(ROUNDS):
            with pytest.raises(ServiceUnavailable, match="musicez db upgrade"):
                await database.ping()
            async with SqlUnitOfWork(maker) as unit:  # a use that goes through
                await unit.commit()
            async with translate_outages(maker), maker() as session:
                assert await session.scalar(select(1)) == 1
            assert not DATABASE.up
        lost = [line for line in log.getvalue().splitlines() if LOST in line]
        assert len(lost) == 1, log.getvalue()
        assert f"at revision {previous}" in lost[0]
        assert BACK not in log.getvalue()

        await upgrade(engine)
        async with SqlUnitOfWork(maker) as unit:  # the next success looks, and sees it at head
            await unit.commit()
        assert DATABASE.up
        await database.ping()
        assert log.getvalue().count(BACK) == 1, log.getvalue()


async def test_a_lost_connection_that_comes_back_without_its_schema_stays_lost(config: SQLAlchemyAsyncConfig) -> None:
    """Down for another reason first, then the schema turns out missing: a success that proves
    nothing about the schema does not end it, and the new reason is logged once."""
    maker = sessions(config)
    with server_log() as log:
        DATABASE.lost(ConnectionRefusedError(), "The database is unavailable")
        with pytest.raises(ServiceUnavailable):
            async with SqlUnitOfWork(maker) as unit:
                await unit.api_keys.list()
        for _ in range(ROUNDS):
            async with translate_outages(maker), maker() as session:
                await session.scalar(select(1))
        assert not DATABASE.up
        assert log.getvalue().count(LOST) == 2, log.getvalue()  # unreachable, then the schema
        assert BACK not in log.getvalue()
