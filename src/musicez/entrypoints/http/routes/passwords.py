"""Forgotten passwords, resets and changes."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from dishka import AsyncContainer
from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, Router, post
from litestar.params import JSONBody

from musicez.application.activity import BackgroundWork
from musicez.application.passwords import (
    AcceptPasswordResetRequest,
    ChangePassword,
    RequestPasswordReset,
    ResetPassword,
)
from musicez.domain.email import Email
from musicez.domain.errors import (
    HashingBusy,
    InvalidCurrentPassword,
    InvalidResetToken,
    RateLimited,
    WeakPassword,
)
from musicez.entrypoints.http import cookies
from musicez.entrypoints.http.guard import PUBLIC, USER_ONLY, current_user
from musicez.entrypoints.http.routes.common import client_of
from musicez.entrypoints.http.schemas import ChangePasswordBody, ForgotPasswordBody, ResetPasswordBody, doc
from musicez.entrypoints.http.state import of

log = logging.getLogger("musicez.mail")
TAGS = ["passwords"]


ACCEPTED_DETAIL = "If an account exists for this address, a link to reset its password is on its way."


class Accepted(msgspec.Struct, frozen=True):
    status: Annotated[str, doc("Always `accepted`", "accepted")] = "accepted"
    detail: Annotated[str, doc("The same words whether or not the account exists", ACCEPTED_DETAIL)] = ACCEPTED_DETAIL


async def send_reset_link(container: AsyncContainer, email: Email, client: str = "unknown") -> None:
    """Runs after the response: looking the account up and mailing costs the client nothing."""
    try:
        async with container() as request_container:
            use_case = await request_container.get(RequestPasswordReset)
            await use_case.execute(email, client)
    except Exception as error:  # never crash the process; never log the token or the link
        log.error("password reset mail failed: %s", type(error).__name__)


@post("/forgot", opt={**PUBLIC, "raises": (RateLimited,)}, status_code=202)
@inject
async def forgot_password(
    data: JSONBody[ForgotPasswordBody],
    request: Request[Any, Any, Any],
    accept: FromDishka[AcceptPasswordResetRequest],
    background: FromDishka[BackgroundWork],
) -> Response[Accepted]:
    """Mail a reset link to the account, if there is one. The answer is the same either way."""
    client = client_of(request)
    email = await accept.execute(data.email, client)
    # After the response, with the rest of the work that outlives its request (activity, security
    # mails): one set of tasks, awaited a while at shutdown.
    background.spawn(send_reset_link(of(request).container, email, client))
    return Response(Accepted(), status_code=202)


@post(
    "/reset",
    opt={**PUBLIC, "raises": (InvalidResetToken, WeakPassword, RateLimited, HashingBusy)},
    status_code=204,
    responses=cookies.ENDED_RESPONSES,
)
@inject
async def reset_password(
    data: JSONBody[ResetPasswordBody], request: Request[Any, Any, Any], use_case: FromDishka[ResetPassword]
) -> Response[None]:
    """Set a new password with the token from the email; every session of the user ends."""
    await use_case.execute(data.token, data.new_password, client_of(request))
    return cookies.ended(request)


@post("/change", opt={**USER_ONLY, "raises": (InvalidCurrentPassword, WeakPassword, HashingBusy)}, status_code=204)
@inject
async def change_password(
    data: JSONBody[ChangePasswordBody], request: Request[Any, Any, Any], use_case: FromDishka[ChangePassword]
) -> None:
    """Change the password; every other session of the user ends."""
    await use_case.execute(current_user(), data.current_password, data.new_password)


router = Router("/auth/password", route_handlers=[forgot_password, reset_password, change_password], tags=TAGS)
