"""Finding real Postgres and Redis for the tests.

Order: MUSICEZ_TEST_DATABASE_URL / MUSICEZ_TEST_REDIS_URL; then a Docker engine through
testcontainers; then Postgres and Redis on their default local ports. With none of them the
run stops with one clear message.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

NO_SERVICES = (
    "No Postgres/Redis for the tests. Set MUSICEZ_TEST_DATABASE_URL and MUSICEZ_TEST_REDIS_URL, "
    "run a Docker engine (testcontainers starts both), or start Postgres on 127.0.0.1:5432 "
    "and Redis on 127.0.0.1:6379 (see README: Tests)."
)


@dataclass(frozen=True)
class Services:
    database_url: str  # a server-level URL (postgresql+asyncpg://user@host:port/postgres)
    redis_url: str
    source: str


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def discover() -> Iterator[Services]:
    db_url = os.environ.get("MUSICEZ_TEST_DATABASE_URL")
    redis_url = os.environ.get("MUSICEZ_TEST_REDIS_URL")
    if db_url and redis_url:
        yield Services(db_url, redis_url, "environment")
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg, RedisContainer("redis:7-alpine") as rd:
            host, port = rd.get_container_host_ip(), rd.get_exposed_port(6379)
            yield Services(db_url or pg.get_connection_url(), redis_url or f"redis://{host}:{port}/0", "testcontainers")
        return
    if _port_open("127.0.0.1", 5432) and _port_open("127.0.0.1", 6379):
        yield Services(
            db_url or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
            redis_url or "redis://127.0.0.1:6379/0",
            "local default ports",
        )
        return
    raise RuntimeError(NO_SERVICES)
