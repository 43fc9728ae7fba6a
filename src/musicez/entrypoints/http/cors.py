"""CORS for the listed origins only.

Litestar's CORS middleware adds its origin-independent headers (`Access-Control-Allow-Credentials`,
`-Expose-Headers`, `-Allow-Methods`, ...) to every response that has an `Origin`, and answers an
unlisted origin's preflight with a plain-text 400. An origin that is not listed gets nothing here:
no `Access-Control-*` header on any response, and its preflight is answered as a plain OPTIONS.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig

ASGIApp = Any


def _origin(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"origin":
            return value
    return None


def listed_origins_only(app: ASGIApp, config: CORSConfig) -> ASGIApp:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = _origin(scope["headers"]) if scope["type"] == "http" else None
        if origin is None or config.is_origin_allowed(origin.decode("latin-1")):
            await app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [(name, value) for name, value in scope["headers"] if name != b"origin"]
            await app({**scope, "headers": headers}, receive, send)
            return

        async def send_without_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if not n.lower().startswith(b"access-control-")]
                message = {**message, "headers": kept}
            await send(message)

        await app(scope, receive, send_without_cors)

    return middleware
