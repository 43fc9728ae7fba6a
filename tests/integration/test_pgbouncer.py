"""The database tests of the integration suite again, through PgBouncer in transaction mode
(`MUSICEZ_DB_PGBOUNCER=true`): registration, login, API keys, password change and reset,
sessions. Transaction pooling hands each transaction to any server connection, so these
would fail on a prepared statement that outlived its transaction or a session-level setting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from musicez.adapters.sql.database import build_engine
from musicez.entrypoints.settings import Settings
from tests.integration.test_api_api_keys import (  # noqa: F401 - collected again here, through PgBouncer
    test_me_with_an_api_key,
    test_per_key_rate_limit,
    test_revoked_key_stops_at_once,
)
from tests.integration.test_api_login import *  # noqa: F403 - collected again here, through PgBouncer
from tests.integration.test_api_passwords import *  # noqa: F403
from tests.integration.test_api_register import *  # noqa: F403
from tests.integration.test_api_sessions import *  # noqa: F403
from tests.support.api import MakeSettings
from tests.support.pgbouncer import running_pgbouncer, through_pgbouncer


@pytest.fixture(scope="module")
def pgbouncer_port(database_url: str) -> Iterator[int]:
    with running_pgbouncer(database_url) as port:
        yield port


@pytest.fixture
def make_settings(
    database_url: str, pgbouncer_port: int, redis_url: str, redis_prefix: str, secret_key: str, tmp_path: Path
) -> MakeSettings:
    """The suite's settings, with the database reached through PgBouncer."""
    own_prefix = f"{redis_prefix}:{uuid.uuid4().hex[:8]}"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": through_pgbouncer(database_url, pgbouncer_port),
            "db_pgbouncer": True,
            "redis_url": redis_url,
            "redis_prefix": own_prefix,
            "bcrypt_rounds": 4,
            "data_dir": str(tmp_path / "data"),
            "secret_key": secret_key,
            "mail_outbox": str(tmp_path / "outbox"),
            "log_format": "console",
        }
        values.update(overrides)
        return Settings.from_env(environ={}, **values)

    return make


async def test_many_transactions_share_few_server_connections(database_url: str, pgbouncer_port: int) -> None:
    """Concurrent transactions through an 8-connection server pool: statements run, none clashes."""
    engine = build_engine(through_pgbouncer(database_url, pgbouncer_port), pool_size=20, pgbouncer=True)
    try:

        async def work(i: int) -> int:
            async with engine.begin() as connection:
                await connection.execute(text("SELECT pg_sleep(0.01)"))
                return int((await connection.execute(text("SELECT :i + 1"), {"i": i})).scalar_one())

        assert await asyncio.gather(*(work(i) for i in range(60))) == [i + 1 for i in range(60)]
    finally:
        await engine.dispose()


async def test_without_the_setting_pgbouncer_refuses_the_startup_settings(
    database_url: str, pgbouncer_port: int
) -> None:
    """Shows what the setting changes: the default start-up parameters do not pass PgBouncer."""
    engine = build_engine(through_pgbouncer(database_url, pgbouncer_port), pool_size=2)
    try:
        with pytest.raises(Exception, match="statement_timeout"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
