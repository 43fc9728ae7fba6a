"""The database and Redis, and the adapters that live on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import cast

from advanced_alchemy.config import SQLAlchemyAsyncConfig
from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.memory.host_revocations import FILE_NAME as REVOCATIONS_FILE
from musicez.adapters.memory.host_revocations import VIEWS_DIR as SESSION_VIEWS_DIR
from musicez.adapters.memory.host_revocations import HostRevocations, HostSessionViews, HostSharedSessionStore
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.rate_lease import LeasedRateLimiter, MemoryQuotaStore, RedisQuotaStore
from musicez.adapters.rate_limit import memory_rate_limiter, redis_rate_limiter
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.adapters.sql.activity import SqlActivityLog, SqlSecurityLinks
from musicez.adapters.sql.database import SqlDatabase, database_config, sessions
from musicez.adapters.sql.repositories import SqlApiKeyLookup
from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.application.ports import (
    ActivityLog,
    ApiKeyLookup,
    Clock,
    Database,
    EventSink,
    KeyedHasher,
    PrincipalRateLimiter,
    RateLimiter,
    SecurityLinkRepository,
    SessionStore,
    UnitOfWork,
)
from musicez.entrypoints.dev_files import private_sqlite_file
from musicez.entrypoints.settings import Settings
from musicez.entrypoints.settings_groups import DatabaseSettings, RedisSettings

UnitsOfWork = Callable[[], UnitOfWork]  # a unit of work outside a request's scope, one per call


class DatabaseProvider(Provider):
    scope = Scope.APP

    @provide
    def config(self, database: DatabaseSettings) -> SQLAlchemyAsyncConfig:
        if database.sqlite_file is not None:
            private_sqlite_file(database.sqlite_file)  # 0600 in a 0700 data dir
        return database_config(database.url, database.pool_size, pgbouncer=database.pgbouncer)

    @provide
    async def engine(self, config: SQLAlchemyAsyncConfig) -> AsyncIterator[AsyncEngine]:
        engine = config.get_engine()
        yield engine
        await engine.dispose()

    @provide
    def sessions_maker(self, config: SQLAlchemyAsyncConfig, _engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return sessions(config)  # asks for the engine so that the container disposes of it

    @provide
    def database(self, engine: AsyncEngine) -> Database:
        return SqlDatabase(engine)

    @provide
    def api_key_lookup(self, sessions: async_sessionmaker[AsyncSession]) -> ApiKeyLookup:
        return SqlApiKeyLookup(sessions)

    @provide
    def activity_log(self, sessions: async_sessionmaker[AsyncSession]) -> ActivityLog:
        return SqlActivityLog(sessions)

    @provide
    def security_links(self, sessions: async_sessionmaker[AsyncSession]) -> SecurityLinkRepository:
        return SqlSecurityLinks(sessions)

    unit_of_work = provide(SqlUnitOfWork, provides=UnitOfWork, scope=Scope.REQUEST)

    @provide
    def units_of_work(self, sessions: async_sessionmaker[AsyncSession]) -> UnitsOfWork:
        """For work after the response (the security mails), which has no request scope."""

        def unit() -> UnitOfWork:
            return cast("UnitOfWork", SqlUnitOfWork(sessions))

        return unit


class RedisProvider(Provider):
    """Sessions and rate limits in Redis, or in this process when there is no Redis."""

    scope = Scope.APP

    @provide
    async def redis(self, settings: RedisSettings) -> AsyncIterator[AnyRedis | None]:
        if not settings.url:
            yield None
            return
        client = connect(settings.url)
        yield client
        await client.aclose()

    @provide
    def session_store(
        self, redis: AnyRedis | None, settings: RedisSettings, clock: Clock, events: EventSink, every: Settings
    ) -> SessionStore:
        if redis is None:
            # one process holds the sessions; the CLI on this host tells it whom an operator ended
            revocations = HostRevocations(every.data_path / REVOCATIONS_FILE)
            views = HostSessionViews(every.data_path / SESSION_VIEWS_DIR)  # and what they hold, for `users show`
            return HostSharedSessionStore(MemorySessionStore(clock), revocations, events, clock, views)
        return RedisSessionStore(redis, settings.prefix)

    @provide
    def rate_limiter(self, settings: RedisSettings, macs: KeyedHasher) -> RateLimiter:
        prefix = f"{settings.prefix}:rl"
        if settings.url:
            return redis_rate_limiter(settings.url, prefix, macs)
        return memory_rate_limiter(prefix, macs)

    @provide
    async def principal_rate_limiter(
        self, redis: AnyRedis | None, settings: RedisSettings, fence: RedisFence | None
    ) -> AsyncIterator[PrincipalRateLimiter]:
        """The guard's per-principal limit as a leased quota (no Redis call on most requests).
        Closed before the Redis client it leases through (dishka closes in reverse order). When
        the fence sees Redis lose data, the units this process holds are dropped."""
        chunk = settings.lease_max_chunk
        if redis is None:
            limiter = LeasedRateLimiter(MemoryQuotaStore(max_chunk=chunk))
        else:
            limiter = LeasedRateLimiter(RedisQuotaStore(redis, f"{settings.prefix}:lease", max_chunk=chunk))
        if fence is not None:
            fence.on_data_lost(limiter.forget)
        yield limiter
        await limiter.aclose()
