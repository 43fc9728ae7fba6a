"""The engine and sessions (one advanced-alchemy config makes both), with bounded timeouts and
driver errors turned into 503s in one place: `outage` (used by `translate_outages` and the unit
of work).

A schema behind this code's revision is a database outage like a lost connection (logged once,
the gauge at 0, every use a 503), except that a success does not end it: a query on a table the
old schema has goes through. It ends when the revision is seen at head: by the readiness probe
(`check_schema`), or by the check each success makes while such an outage lasts (`succeeded`)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from advanced_alchemy.config import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from musicez.adapters.outages import DATABASE
from musicez.adapters.sql.migrate import head_revision, revision_of
from musicez.domain.errors import ServiceUnavailable

CONNECT_TIMEOUT = 1.5
STATEMENT_TIMEOUT_MS = 5000
# Waiting for a free pooled connection under a burst; an outage fails at connect, not here.
POOL_TIMEOUT = 3.0


SCHEMA_OUTDATED = "The database schema is not up to date: an operator must run `musicez db upgrade`"
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})  # undefined table, undefined column
_SQLITE_SCHEMA = ("no such table", "no such column")


def is_schema_outdated(error: BaseException | None) -> bool:
    """A table or column the code expects is missing: the migrations were not applied."""
    seen = 0
    while error is not None and seen < 10:
        if getattr(getattr(error, "orig", None), "sqlstate", None) in _SCHEMA_SQLSTATES:
            return True
        if getattr(error, "sqlstate", None) in _SCHEMA_SQLSTATES:
            return True
        if isinstance(error, exc.DBAPIError) and any(m in str(error.orig) for m in _SQLITE_SCHEMA):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def outage_detail(error: BaseException) -> str:
    return SCHEMA_OUTDATED if is_schema_outdated(error) else "The database is unavailable"


def is_outage(error: BaseException) -> bool:
    """A connection-level failure (the database is down, unreachable or overloaded), or a schema
    the migrations have not brought up to date: either way the service cannot answer now."""
    if is_schema_outdated(error):
        return True
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.DBAPIError) and _is_outage_sqlstate(getattr(error.orig, "sqlstate", None)):
        return True
    return isinstance(error, (OSError, asyncio.TimeoutError, ConnectionError))


def _is_outage_sqlstate(sqlstate: object) -> bool:
    """Connection exceptions (08), shutdown / starting up (57P0x), out of resources (53), a
    statement cancelled (57014: the server's `statement_timeout`, a slow or locked database) or
    its lock wait timed out (55P03), and a transaction the server rolled back for a conflict
    (40: serialization failure, deadlock): the database cannot answer this request now, and the
    same request may succeed later (a 503, not a 500)."""
    return isinstance(sqlstate, str) and sqlstate.startswith(("08", "57P0", "53", "57014", "55P03", "40"))


def database_config(url: str, pool_size: int = 10, pgbouncer: bool = False) -> SQLAlchemyAsyncConfig:
    """The engine (`get_engine()`) and the sessions (`sessions(config)`) of one database.

    `pgbouncer`: behind PgBouncer in transaction mode, where consecutive transactions may run
    on different server connections, so no prepared statement may outlive its transaction and
    no setting may be sent at connection start-up (set `statement_timeout` on the role instead;
    the client-side `command_timeout` still bounds every statement)."""
    is_sqlite = url.startswith("sqlite")
    # `hide_parameters`: a database error's message names the statement but not its bound values
    # (password hashes, token MACs, email keys), wherever the error ends up (a log line, a traceback).
    engine_args: dict[str, object] = {"pool_pre_ping": not is_sqlite, "hide_parameters": True}
    connect_args: dict[str, object]
    if is_sqlite:
        connect_args = {"timeout": 15}
    else:
        engine_args.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=POOL_TIMEOUT)
        connect_args = {
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": STATEMENT_TIMEOUT_MS / 1000,
            "server_settings": {"statement_timeout": str(STATEMENT_TIMEOUT_MS), "application_name": "musicez"},
        }
        if pgbouncer:
            connect_args.update(_PGBOUNCER_CONNECT_ARGS)
            connect_args["server_settings"] = {"application_name": "musicez"}
    config = SQLAlchemyAsyncConfig(
        connection_string=url,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(connect_args=connect_args, **engine_args),  # type: ignore[arg-type]
    )
    engine = config.get_engine()  # created once, kept by the config
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return config


def build_engine(url: str, pool_size: int = 10, pgbouncer: bool = False) -> AsyncEngine:
    """An engine alone (migrations, tests)."""
    return database_config(url, pool_size, pgbouncer).get_engine()


def sessions(config: SQLAlchemyAsyncConfig) -> async_sessionmaker[AsyncSession]:
    """The config's session maker (sessions that keep their values after commit)."""
    return cast("async_sessionmaker[AsyncSession]", config.create_session_maker())


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


_PGBOUNCER_CONNECT_ARGS: dict[str, object] = {
    "statement_cache_size": 0,  # asyncpg's own cache of prepared statements
    "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter's cache
    "prepared_statement_name_func": _unique_statement_name,  # no clash on a shared server connection
}


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class SqlDatabase:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ping(self) -> None:
        """Reachable, and at the schema revision this code expects."""
        await check_schema(self.engine)


@functools.cache
def expected_revision() -> str:
    return head_revision()


async def check_schema(engine: AsyncEngine) -> None:
    """Reachable and at this code's revision (readiness, start-up), or `ServiceUnavailable` with the
    database recorded as lost; lost for its schema, until a check sees the revision at head."""
    async with _translated(), engine.connect() as connection:
        current = await revision_of(connection)
    if not _schema_seen(current):
        raise ServiceUnavailable(SCHEMA_OUTDATED)


def _schema_seen(current: str | None) -> bool:
    """Whether `current` is the revision this code needs, recorded either way."""
    expected = expected_revision()
    if current == expected:
        DATABASE.ok(checked=True)
        return True
    at = current or "none (an empty database)"
    detail = f"{SCHEMA_OUTDATED}; it is at revision {at}, this version needs {expected}"
    DATABASE.lost(ServiceUnavailable(SCHEMA_OUTDATED), detail, until_checked=True)
    return False


async def succeeded(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A use of the database went through while it was recorded as lost (callers check `DATABASE.up`
    first: nothing happens here otherwise). That ends a connection outage; a schema outage only if
    the revision is now at head (an operator ran `musicez db upgrade` while this process served)."""
    if not DATABASE.until_checked:
        DATABASE.ok()
        return
    try:
        async with sessions() as session:
            current = await revision_of(await session.connection())
    except Exception as error:  # the use itself went through: its answer stands (readiness reports this)
        outage(error)
        return
    _schema_seen(current)


def outage(error: BaseException) -> ServiceUnavailable | None:
    """The 503 a failure means, once recorded as the database lost; None if it is no outage."""
    if isinstance(error, ServiceUnavailable) or not is_outage(error):
        return None
    detail = outage_detail(error)
    DATABASE.lost(error, detail, until_checked=detail == SCHEMA_OUTDATED)
    return ServiceUnavailable(detail)


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """An outage leaves as `ServiceUnavailable`, recorded; a success records nothing."""
    try:
        yield
    except Exception as error:
        unavailable = outage(error)
        if unavailable is not None:
            raise unavailable from error
        raise


@asynccontextmanager
async def translate_outages(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Around one short use of the database through `sessions`: an outage leaves as
    `ServiceUnavailable`, and a success ends one that was on (see `succeeded`). (`_translated`
    written out: this is on the API-key guard's path.)"""
    try:
        yield
    except Exception as error:
        unavailable = outage(error)
        if unavailable is not None:
            raise unavailable from error
        raise
    if not DATABASE.up:
        await succeeded(sessions)
