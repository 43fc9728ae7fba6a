"""`ending_sessions`: the sessions end before the commit and again after it, or not at all."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, Self, cast

import pytest

from musicez.application.ports import SessionStore, UnitOfWork
from musicez.application.session_ending import ending_sessions
from musicez.domain.ids import SessionId, UserId

USER = UserId(uuid.uuid4())
KEEP = SessionId(uuid.uuid4())


class Steps:
    def __init__(self) -> None:
        self.taken: list[str] = []

    async def __aenter__(self) -> Self:
        self.taken.append("begin")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.taken.append("end")

    async def commit(self) -> None:
        self.taken.append("commit")

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "") -> int:
        self.taken.append(f"revoke {user_id == USER} {keep == KEEP} {reason}")
        return 0


async def test_revoked_before_the_commit_and_again_after() -> None:
    steps = Steps()
    uow, sessions = cast(UnitOfWork, steps), cast(SessionStore, steps)
    async with ending_sessions(uow, sessions, reason="password_changed", keep=KEEP) as ending:
        steps.taken.append("write")
        ending.sessions_of(USER)
    revoke = "revoke True True password_changed"
    assert steps.taken == ["begin", "write", revoke, "commit", "end", revoke]


async def test_a_failing_body_commits_and_ends_nothing() -> None:
    steps = Steps()
    uow, sessions = cast(UnitOfWork, steps), cast(SessionStore, steps)
    with pytest.raises(LookupError):
        async with ending_sessions(uow, sessions, reason="account_disabled"):
            raise LookupError
    assert steps.taken == ["begin", "end"]


async def test_the_body_must_name_the_user() -> None:
    steps: Any = Steps()
    with pytest.raises(RuntimeError, match="named no user"):
        async with ending_sessions(steps, steps, reason="password_reset"):
            pass
    assert "commit" not in steps.taken
