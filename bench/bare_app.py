"""The framework's ceiling: a bare Litestar app with one JSON route (and the bench-only routes
below), served by the same server with the same workers as the service (granian, ASGI, uvloop).

`/health/live` is the ceiling. `/bench/verify-only` is a bench-only route that verifies the
same access tokens with the service's own codec (same key, same verification cache) and
nothing else: no session-store (revocation) check, no rate limit, no container, no outer
middleware. It exists to price what the service adds on top of verifying a token.

`POST /bench/refresh-bound` (when `MUSICEZ_REDIS_URL` is set) is issue 12's bound for a refresh,
"one Redis write + one signature", as a route: it reads the same JSON body as `/auth/refresh`
(the service's `RefreshBody`), swaps a hash of the presented token for its successor's in Redis
(one `SET ... GET`), signs an access token with the service's codec and answers the service's
own grant (`TokenResponse`: the same fields, the same encoder). No session, MAC, rate limit,
log line or middleware: what a refresh cannot do without on this framework and server.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.params import JSONBody

from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.domain.errors import ClientError
from musicez.domain.ids import SessionId, UserId
from musicez.entrypoints.http.schemas.auth import RefreshBody, TokenResponse, UserOut
from musicez.entrypoints.http.schemas.fields import wire_time
from musicez.entrypoints.key_loading import build_key_ring
from musicez.entrypoints.settings import Settings


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


def create() -> Litestar:
    settings = Settings.from_env()
    codec = JwtCodec(
        build_key_ring(settings.keys),
        TokenSettings(settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl, settings.jwt_leeway),
    )

    @get("/bench/verify-only")
    async def verify_only(request: Request[Any, Any, Any]) -> dict[str, str]:
        header = request.headers.get("authorization", "")
        try:
            claims = codec.verify(header.partition(" ")[2])
        except ClientError:
            raise NotAuthorizedException() from None
        return {"sub": str(claims.user_id), "sid": str(claims.session_id)}

    handlers: list[Any] = [live, verify_only]
    on_shutdown: list[Any] = []
    if settings.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.redis_url)
        user_id, session_id = UserId(uuid.uuid4()), SessionId(uuid.uuid4())

        user = UserOut(id=user_id, email="bound@bench.example", created_at=wire_time(datetime.now(UTC)))

        @post("/bench/refresh-bound", status_code=200)
        async def refresh_bound(data: JSONBody[RefreshBody]) -> TokenResponse:
            # The bound of issue 12 for a refresh: read the body, one Redis write (an atomic
            # swap of the token's hash: SET ... GET, no script), one signature, a JSON grant back.
            if not isinstance(data.refresh_token, str):  # the service would read its cookie: not measured here
                raise ValidationException("refresh_token is required")
            successor = secrets.token_urlsafe(32)
            key = f"{settings.redis_prefix}:bench-bound:" + hashlib.sha256(data.refresh_token.encode()).hexdigest()
            await client.set(key, hashlib.sha256(successor.encode()).hexdigest(), ex=60, get=True)
            access = codec.issue(user_id, session_id, datetime.now(UTC))
            return TokenResponse(
                access_token=access.token,
                expires_in=access.lifetime_seconds,
                refresh_token=successor,
                refresh_expires_in=REFRESH_SECONDS,
                session_id=session_id,
                user=user,
            )

        handlers.append(refresh_bound)
        on_shutdown.append(client.aclose)
    return Litestar(route_handlers=handlers, on_shutdown=on_shutdown, logging_config=None, debug=False)


REFRESH_SECONDS = 7 * 24 * 3600
