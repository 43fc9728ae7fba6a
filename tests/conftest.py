"""Shared fixtures: real services, a database and a Redis key space per run, the app."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.databases import create_database, drop_database
from tests.support.services import Services, discover

# Fixtures that live beside their helpers: the process directory and environment of the
# server/CLI tests, and the throwaway Redis Cluster of the fence and contract tests.
pytest_plugins = ["tests.support.processes", "tests.support.cluster"]


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    try:
        with discover() as found:
            yield found
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=3)


@pytest.fixture(scope="session")
async def database_url(services: Services) -> AsyncIterator[str]:
    """A fresh Postgres database for this run, migrated by the app at start-up."""
    url = await create_database(services.database_url)
    yield url
    await drop_database(services.database_url, url)


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture(scope="session")
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key space of this run's own, removed afterwards."""
    prefix = f"mez-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def secret_key() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"
