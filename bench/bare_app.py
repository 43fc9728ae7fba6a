"""The framework's ceiling: a bare Litestar app with one JSON route, served by the same server
with the same workers as the service (granian, ASGI, uvloop).

`/health/live` is the ceiling. `/bench/verify-only` is a bench-only route that verifies the
same access tokens with the service's own codec (same key, same verification cache) and
nothing else: no session-store (revocation) check, no rate limit, no container, no outer
middleware. It exists to price what the service adds on top of verifying a token.

`POST /bench/refresh-bound` (when `MUSICEZ_REDIS_URL` is set) is issue 12's bound for a refresh,
"one Redis write + one signature", as a route: it reads the same JSON body as `/auth/refresh`,
swaps a hash of the presented token for its successor's in Redis (one `SET ... GET`), signs an access
token with the service's codec and answers the same JSON grant. No session, MAC, rate limit, log
line or middleware: what a refresh cannot do without on this framework and server.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post
from litestar.exceptions import NotAuthorizedException

from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.domain.errors import ClientError
from musicez.domain.ids import SessionId, UserId
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
    if settings.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.redis_url)
        user_id, session_id = UserId(uuid.uuid4()), SessionId(uuid.uuid4())

        @post("/bench/refresh-bound", status_code=200)
        async def refresh_bound(data: _RefreshBody) -> dict[str, Any]:
            # The bound of issue 12 for a refresh: read the body, one Redis write (an atomic
            # swap of the token's hash: SET ... GET, no script), one signature, a JSON grant back.
            successor = secrets.token_urlsafe(32)
            key = f"{settings.redis_prefix}:bench-bound:" + hashlib.sha256(data.refresh_token.encode()).hexdigest()
            await client.set(key, hashlib.sha256(successor.encode()).hexdigest(), ex=60, get=True)
            access = codec.issue(user_id, session_id, datetime.now(UTC))
            return {
                "access_token": access.token,
                "token_type": "Bearer",
                "expires_in": access.lifetime_seconds,
                "refresh_token": successor,
            }

        handlers.append(refresh_bound)
    return Litestar(route_handlers=handlers, logging_config=None, debug=False)


class _RefreshBody(msgspec.Struct):
    refresh_token: str
