"""Redis clients with bounded timeouts, and Redis failures turned into 503s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ClusterDownError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from musicez.adapters.outages import REDIS
from musicez.domain.errors import ServiceUnavailable

CLUSTER_SCHEME = "redis+cluster://"
SOCKET_TIMEOUT = 0.5


def client_options() -> dict[str, object]:
    """Bounded waits: one quick retry, so an outage answers 503 well within 2 s."""
    return {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=1),
    }


_OUTAGES = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)

AnyRedis = Redis | RedisCluster


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def strip_cluster_scheme(url: str) -> str:
    return "redis://" + url.removeprefix(CLUSTER_SCHEME) if is_cluster_url(url) else url


def connect(url: str) -> AnyRedis:
    """`redis://…` for one server, `redis+cluster://host:port` for a Redis Cluster."""
    options = {**client_options(), "decode_responses": False}
    if is_cluster_url(url):
        return RedisCluster.from_url(strip_cluster_scheme(url), **options)
    return Redis.from_url(url, health_check_interval=30, **options)  # type: ignore[arg-type]


# The whole of one Redis operation, retries and reconnections included: the socket timeouts bound
# each read and write (two attempts: ~1.1 s), but a reconnection to a server that accepts and then
# never answers (SIGSTOP, a full backlog) adds its own waits; past this the operation is an outage.
OPERATION_DEADLINE = 1.2


@asynccontextmanager
async def redis_outages(what: str = "session store") -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(OPERATION_DEADLINE):
            yield
    except _OUTAGES as error:
        REDIS.lost(error)
        raise ServiceUnavailable(f"The {what} is unavailable") from error
    REDIS.ok()
