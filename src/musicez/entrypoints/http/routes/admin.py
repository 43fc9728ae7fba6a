"""Admin routes for support consoles: an `admin`-scope API key; the same use cases as the CLI."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Router, get, post
from litestar.params import Body, QueryParameter

from musicez.application.admin import (
    EMAIL_FILTER_MAX,
    PAGE_DEFAULT,
    PAGE_MAX,
    Actor,
    DisableUser,
    EnableUser,
    ForceLogout,
    ListUsers,
    ShowUser,
)
from musicez.domain.api_key import display_prefix
from musicez.domain.errors import InsufficientScope, UserNotFound
from musicez.domain.ids import UserId
from musicez.domain.principal import ApiKeyPrincipal
from musicez.domain.user import User
from musicez.entrypoints.http.guard import ADMIN_SCOPE, current_principal
from musicez.entrypoints.http.schemas import (
    AdminSessionOut,
    AdminUserDetails,
    AdminUserOut,
    AdminUserPage,
    DisableUserBody,
    IdPath,
    wire_time,
)

TAGS = ["admin"]
SECURITY: list[dict[str, list[str]]] = [{"ApiKeyAuth": []}]
USER_PATH = "/{user_id:str}"  # under /admin/users
USER_LOOKUP = (UserNotFound,)  # an unknown or malformed id


def _actor(request: Request[Any, Any, Any]) -> Actor:
    principal = current_principal()
    if not isinstance(principal, ApiKeyPrincipal):  # the guard lets only admin keys in already
        raise InsufficientScope()
    return Actor(by=str(principal.key_id), key_prefix=display_prefix(principal.key_id))


def _user_id(text: str) -> UserId:
    try:
        return UserId(UUID(text))
    except ValueError:
        raise UserNotFound("No user with this id") from None


def user_out(user: User) -> AdminUserOut:
    return AdminUserOut(
        id=user.id,
        email=user.email.value,
        created_at=wire_time(user.created_at),
        disabled=user.disabled,
        disabled_reason=user.disabled_reason,
        last_login_at=wire_time(user.last_login_at) if user.last_login_at else None,
    )


@get("/")
@inject
async def list_users(
    request: Request[Any, Any, Any],
    use_case: FromDishka[ListUsers],
    *,
    email_contains: Annotated[str | None, QueryParameter(max_length=EMAIL_FILTER_MAX)] = None,
    disabled: Annotated[bool | None, QueryParameter()] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
    cursor: Annotated[str | None, QueryParameter(min_length=22, max_length=22, pattern=r"^[A-Za-z0-9_-]{22}$")] = None,
) -> AdminUserPage:
    """Accounts in creation order, filtered by email substring and disabled flag; `next_cursor` pages on."""
    page = await use_case.execute(
        email_contains=email_contains, disabled=disabled, limit=limit, cursor=cursor, actor=_actor(request)
    )
    return AdminUserPage(items=[user_out(u) for u in page.items], next_cursor=page.next_cursor)


@get(USER_PATH, opt={"raises": USER_LOOKUP})
@inject
async def show_user(
    user_id: IdPath, request: Request[Any, Any, Any], use_case: FromDishka[ShowUser]
) -> AdminUserDetails:
    """One account and its live sessions."""
    details = await use_case.execute(_user_id(user_id), _actor(request))
    out = user_out(details.user)
    return AdminUserDetails(
        id=out.id,
        email=out.email,
        created_at=out.created_at,
        disabled=out.disabled,
        disabled_reason=out.disabled_reason,
        last_login_at=out.last_login_at,
        sessions=[
            AdminSessionOut(
                id=s.id,
                device_name=s.device_name,
                created_at=wire_time(s.created_at),
                last_used_at=wire_time(s.last_used_at),
                expires_at=wire_time(s.refresh_expires_at),
            )
            for s in details.sessions
        ],
    )


@post(
    f"{USER_PATH}/disable",
    opt={"optional_body": True, "raises": USER_LOOKUP},
    status_code=204,
)
@inject
async def disable_user(
    user_id: IdPath,
    request: Request[Any, Any, Any],
    use_case: FromDishka[DisableUser],
    data: Annotated[DisableUserBody | None, Body()] = None,
) -> None:
    """Disable the account: every session ends at once; login, refresh and reset links stop working."""
    await use_case.execute(_user_id(user_id), _actor(request), data.reason if data else None)


@post(f"{USER_PATH}/enable", opt={"raises": USER_LOOKUP}, status_code=204)
@inject
async def enable_user(user_id: IdPath, request: Request[Any, Any, Any], use_case: FromDishka[EnableUser]) -> None:
    """Lift the block; sessions that ended stay ended."""
    await use_case.execute(_user_id(user_id), _actor(request))


@post(f"{USER_PATH}/logout", opt={"raises": USER_LOOKUP}, status_code=204)
@inject
async def logout_user(user_id: IdPath, request: Request[Any, Any, Any], use_case: FromDishka[ForceLogout]) -> None:
    """End every session of the user at once."""
    await use_case.execute(_user_id(user_id), _actor(request))


# Every route here needs an API key with the admin scope.
router = Router(
    "/admin/users",
    route_handlers=[list_users, show_user, disable_user, enable_user, logout_user],
    opt=ADMIN_SCOPE,
    security=SECURITY,
    tags=TAGS,
)
