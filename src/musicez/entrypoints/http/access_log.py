"""An access log, off by default (`MUSICEZ_ACCESS_LOG=true`): one JSON-ready structlog line per
request with its request id, method, route template, status, duration and the keyed client id.

Never the raw path or query string (a reset link's token could be there), never a header: the
route template names what was asked, the request id ties it to the other lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from litestar.connection import ASGIConnection

from musicez.entrypoints.http.client_address import Network, client_address_of
from musicez.entrypoints.http.outer_middleware import HEAD_REQUEST

ASGIApp = Any
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def access_log(app: ASGIApp, client_id: Callable[[str], str], trusted: list[Network]) -> ASGIApp:
    log = structlog.get_logger("musicez.access")

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, recording_send)
        finally:
            method = "HEAD" if scope.get(HEAD_REQUEST) else scope.get("method", "")
            log.info(
                "request",
                method=method if method in _KNOWN_METHODS else "OTHER",
                route=scope.get("path_template") or "unmatched",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                client_id=client_id(client_address_of(ASGIConnection(scope), trusted)),  # type: ignore[arg-type]
            )

    return middleware
