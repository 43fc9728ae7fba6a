"""The user's security activity, and the "this wasn't me" link of the security mails."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Router, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from musicez.application.activity import MAX_PAGE, ListActivity
from musicez.application.security_mail import ReportNotMe
from musicez.domain import base64url
from musicez.domain.activity import ActivityCursor, ActivityItem
from musicez.domain.errors import FieldError, InvalidSecurityToken, RateLimited, ValidationFailed
from musicez.entrypoints.http.guard import PUBLIC, USER_ONLY, current_user
from musicez.entrypoints.http.problems import PROBLEM_JSON
from musicez.entrypoints.http.routes.common import client_of
from musicez.entrypoints.http.schemas import ActivityItemOut, ActivityPage, NotMeBody, Problem, wire_time

TAGS = ["activity"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 24 bytes in base64url: 8 of microseconds since the epoch, 16 of the item id.
CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
# The shape goes into the OpenAPI document (inside the string branch); decode_cursor enforces it.
CursorText = Annotated[str, QueryParameter(min_length=32, max_length=32, pattern=f"^{CURSOR_PATTERN.pattern}$")]
_MAX_MICROS = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_cursor(cursor: ActivityCursor) -> str:
    micros = (cursor.at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big") + cursor.id.bytes
    return base64url.encode(raw)


def decode_cursor(text: str) -> ActivityCursor:
    """Any string of the declared shape is a cursor (one from the far future starts at the
    newest item), so a request the OpenAPI document calls valid is never refused."""
    if not CURSOR_PATTERN.fullmatch(text):
        raise ValidationFailed(
            "The cursor is not one this service handed out", [FieldError("cursor", "Use next_cursor as given")]
        )
    raw = base64url.decode(text)
    micros = min(int.from_bytes(raw[:8], "big"), _MAX_MICROS)
    return ActivityCursor(_EPOCH + timedelta(microseconds=micros), UUID(bytes=raw[8:]))


def item_out(item: ActivityItem) -> ActivityItemOut:
    return ActivityItemOut(
        id=item.id,
        type=item.type,
        at=wire_time(item.at),
        session_id=item.session_id,
        device_name=item.device_name,
        new_device=item.new_device,
        detail=dict(item.detail),
    )


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, generate_examples=False, description=description, media_type=PROBLEM_JSON
    )


@get(
    "/activity",
    opt=USER_ONLY,
    responses={400: _problem("validation_error: limit is not 1-100, or the cursor is not a next_cursor")},
)
@inject
async def list_activity(
    request: Request[Any, Any, Any],
    use_case: FromDishka[ListActivity],
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Items per page")] = 50,
    cursor: Annotated[CursorText | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> ActivityPage:
    """The caller's security events, newest first."""
    after = decode_cursor(cursor) if cursor is not None else None
    items, following = await use_case.execute(current_user().user_id, limit, after)
    return ActivityPage(items=[item_out(i) for i in items], next_cursor=encode_cursor(following) if following else None)


@post(
    "/not-me",
    opt={**PUBLIC, "raises": (InvalidSecurityToken, RateLimited)},
    status_code=204,
)
@inject
async def not_me(data: JSONBody[NotMeBody], request: Request[Any, Any, Any], use_case: FromDishka[ReportNotMe]) -> None:
    """End the session a "new sign-in" mail was about, with the token of its link."""
    await use_case.execute(data.token, client_of(request))


router = Router("/auth", route_handlers=[list_activity, not_me], tags=TAGS)
