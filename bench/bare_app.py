"""The framework's ceiling: a bare Litestar app with one JSON route, served by the same server
with the same workers as the service (granian, ASGI, uvloop).

`/health/live` is the ceiling. `/bench/verify-only` is a bench-only route that verifies the
same access tokens with the service's own codec (same key, same verification cache) and
nothing else: no session-store (revocation) check, no rate limit, no container, no outer
middleware. It exists to price what the service adds on top of verifying a token.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException

from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.domain.errors import ClientError
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

    return Litestar(route_handlers=[live, verify_only], logging_config=None, debug=False)
