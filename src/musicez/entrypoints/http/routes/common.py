"""What several route modules share: content-type checks and the token response."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException

from musicez.application.session_opening import TokenGrant
from musicez.entrypoints.http.client_address import client_address
from musicez.entrypoints.http.schemas import TokenResponse, UserOut, wire_time

NO_STORE = CacheControlHeader(no_store=True)


def require_json(request: Request[Any, Any, Any], optional_body: bool) -> None:
    """A route that takes a JSON body accepts `application/json` (with parameters) and nothing
    else; `optional_body` routes (e.g. POST .../disable) may also come with no body at all. A
    repeated Content-Type is refused: which copy counts would depend on who reads it."""
    if optional_body and has_no_body(request):
        return
    declared = request.headers.getall("content-type", ())
    media_type = declared[0].split(";", 1)[0].strip().lower() if len(declared) == 1 else ""
    if media_type != "application/json":
        detail = "Send the body as application/json"
        raise HTTPException(status_code=415, detail=detail if len(declared) < 2 else detail + ", in one Content-Type")


def has_no_body(request: Request[Any, Any, Any]) -> bool:
    headers = request.headers
    return headers.get("content-length", "0").strip() == "0" and "transfer-encoding" not in headers


def client_of(request: Request[Any, Any, Any]) -> str:
    state = request.app.state.musicez
    return client_address(request, state.trusted_networks, state.ipv6_client_prefix)


def token_response(grant: TokenGrant, now: datetime) -> TokenResponse:
    return TokenResponse(
        access_token=grant.access.token,
        expires_in=grant.access.lifetime_seconds,
        refresh_token=grant.refresh_token,
        # Rounded up: a refresh token issued a moment ago for 7 days still says 604800.
        refresh_expires_in=max(0, math.ceil((grant.refresh_expires_at - now).total_seconds())),
        session_id=grant.session.id,
        user=UserOut(id=grant.user_id, email=grant.email, created_at=wire_time(grant.user_created_at)),
        device_token=msgspec.UNSET if grant.device_token is None else grant.device_token,
    )
