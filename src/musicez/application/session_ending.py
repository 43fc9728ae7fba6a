"""Sessions that end with a transaction: a password reset or change, an account disabled.

The user's sessions end twice around the commit: once before it, so a session-store outage
aborts the change (nothing is committed; a reset token stays usable), and once after it, for a
login or refresh that opened or kept a session in between. `ending_sessions` says it once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from musicez.application.ports import SessionStore, UnitOfWork
from musicez.domain.ids import SessionId, UserId


@dataclass(slots=True)
class Ending:
    """Whose sessions end (named by the transaction's body once it knows the user)."""

    user_id: UserId | None = None

    def sessions_of(self, user_id: UserId) -> None:
        self.user_id = user_id


@asynccontextmanager
async def ending_sessions(
    uow: UnitOfWork, sessions: SessionStore, *, reason: str, keep: SessionId | None = None
) -> AsyncIterator[Ending]:
    """`async with ending_sessions(uow, …) as ending:` opens the transaction; its body writes
    and calls `ending.sessions_of(user_id)`; on leaving it the sessions end (but `keep`), the
    transaction commits, and the sessions end again. An exception in the body commits and ends
    nothing (the transaction rolls back)."""
    ending = Ending()
    async with uow:
        yield ending
        if ending.user_id is None:
            raise RuntimeError("ending_sessions: the body named no user")
        await sessions.revoke_all(ending.user_id, keep=keep, reason=reason)
        await uow.commit()
    await sessions.revoke_all(ending.user_id, keep=keep, reason=reason)
