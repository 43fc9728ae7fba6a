"""The outermost ASGI layer: request ids, rate-limit headers, metrics and log context.

It wraps the whole application (routing included), so 404s and 405s get request ids too.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from musicez.entrypoints.rate_report import closest_to_exhaustion, start_collecting

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")

ASGIApp = Any


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "musicez_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "musicez_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


def edge_middleware(app: ASGIApp, metrics: RequestMetrics) -> ASGIApp:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _request_id(scope)
        decisions = start_collecting()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                decision = closest_to_exhaustion(decisions)
                if decision is not None:
                    headers += [
                        (b"ratelimit-limit", str(decision.limit).encode()),
                        (b"ratelimit-remaining", str(decision.remaining).encode()),
                        (b"ratelimit-reset", str(decision.reset_after).encode()),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            route = scope.get("path_template") or "unmatched"
            metrics.requests.labels(scope["method"], route, str(status_holder[0])).inc()
            metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)

    return middleware


def _request_id(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.match(value):
                return str(value.decode())
            break
    return uuid.uuid4().hex
