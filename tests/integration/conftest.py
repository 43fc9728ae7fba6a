"""The real app over HTTP (Litestar's test client) on real Postgres and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.settings import Settings
from tests.support.api import MakeSettings


@pytest.fixture
def make_settings(
    database_url: str, redis_url: str, redis_prefix: str, secret_key: str, tmp_path: Path
) -> MakeSettings:
    """Settings for one test: its own Redis key space, so limits and sessions never leak."""
    own_prefix = f"{redis_prefix}:{uuid.uuid4().hex[:8]}"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
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


@pytest.fixture
def app(make_settings: MakeSettings) -> Litestar:
    return create_app(settings=make_settings())


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app) as test_client:
        yield test_client
