"""One transaction per use of the unit of work, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from musicez.adapters.outages import DATABASE
from musicez.adapters.sql.database import is_outage, outage, succeeded
from musicez.adapters.sql.repositories import SqlApiKeyRepository, SqlResetTokenRepository, SqlUserRepository


class SqlUnitOfWork:
    users: SqlUserRepository
    api_keys: SqlApiKeyRepository
    reset_tokens: SqlResetTokenRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.users = SqlUserRepository(self._session)
        self.api_keys = SqlApiKeyRepository(self._session)
        self.reset_tokens = SqlResetTokenRepository(self._session)
        return self

    async def commit(self) -> None:
        assert self._session is not None, "commit outside `async with`"
        await self._session.commit()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.rollback()
                await session.close()
            except Exception as error:  # closing a broken connection must not hide the first error
                if exc is None and not is_outage(error):
                    raise
        if exc is None:
            if not DATABASE.up:
                await succeeded(self._sessions)
            return
        unavailable = outage(exc)
        if unavailable is not None:
            raise unavailable from exc
