"""Logging out of this device, one chosen device, the others, or all of them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, Router, delete, get, post

from musicez.application.sessions import ListSessions, Logout, RevokeAllSessions, RevokeOtherSessions, RevokeSession
from musicez.domain.errors import SessionNotFound
from musicez.domain.ids import SessionId
from musicez.entrypoints.http import cookies
from musicez.entrypoints.http.guard import USER_ONLY, current_user
from musicez.entrypoints.http.schemas import IdPath, SessionOut, wire_time

TAGS = ["sessions"]


@post("/logout", status_code=204, responses=cookies.ENDED_RESPONSES)
@inject
async def logout(request: Request[Any, Any, Any], use_case: FromDishka[Logout]) -> Response[None]:
    """End the current session."""
    await use_case.execute(current_user())
    return cookies.ended(request)


@post("/logout-all", status_code=204, responses=cookies.ENDED_RESPONSES)
@inject
async def logout_all(request: Request[Any, Any, Any], use_case: FromDishka[RevokeAllSessions]) -> Response[None]:
    """End every session of the user, this one included."""
    await use_case.execute(current_user().user_id)
    return cookies.ended(request)


@post("/logout-others", status_code=204)
@inject
async def logout_others(request: Request[Any, Any, Any], use_case: FromDishka[RevokeOtherSessions]) -> None:
    """End every other session of the user; this one lives on."""
    await use_case.execute(current_user())


@get("/sessions")
@inject
async def list_sessions(request: Request[Any, Any, Any], use_case: FromDishka[ListSessions]) -> list[SessionOut]:
    """The caller's active sessions."""
    principal = current_user()
    return [
        SessionOut(
            id=s.id,
            device_name=s.device_name,
            created_at=wire_time(s.created_at),
            last_used_at=wire_time(s.last_used_at),
            expires_at=wire_time(s.refresh_expires_at),
            current=s.id == principal.session_id,
        )
        for s in await use_case.execute(principal)
    ]


@delete("/sessions/{session_id:str}", opt={"raises": (SessionNotFound,)}, status_code=204)
@inject
async def revoke_session(
    session_id: IdPath, request: Request[Any, Any, Any], use_case: FromDishka[RevokeSession]
) -> None:
    """Log one device out."""
    try:
        target = SessionId(UUID(session_id))
    except ValueError:
        raise SessionNotFound() from None
    await use_case.execute(current_user(), target)


# Every route here is a user's, about that user's own sessions.
router = Router(
    "/auth",
    route_handlers=[logout, logout_all, logout_others, list_sessions, revoke_session],
    opt=USER_ONLY,
    tags=TAGS,
)
