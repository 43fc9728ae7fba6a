"""The outermost ASGI layer: request ids, rate-limit headers, metrics, log context, and the
dishka request scope (entered only when a handler asks for a request-scoped dependency).

It wraps the whole application (routing included), so 404s and 405s get request ids too.
Everything here runs on every request, so it is kept to a few microseconds (bench/README.md).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import structlog
from dishka import DEFAULT_COMPONENT, AsyncContainer
from dishka import Scope as DIScope
from litestar import Request
from prometheus_client import CollectorRegistry, Counter, Histogram

from musicez.entrypoints.rate_report import closest_to_exhaustion, start_collecting

_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

ASGIApp = Any

# Metric labels come from a closed set: a made-up method is counted as OTHER and a path that
# matches no route as one `unmatched` route, so no client can grow /metrics (issue 11, item 3).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def metric_method(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


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
        # `labels()` takes a lock and builds a key on every call; the label sets are few
        # (route templates, not raw paths), so the children are looked up once.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = self.requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = self.latency.labels(method, route)
        histogram.observe(seconds)


class LazyRequestContainer:
    """dishka's request scope for one request, entered on the first `get`.

    Routes that resolve nothing per request (liveness, the guarded reads whose use cases are
    app-scoped) never pay for entering and closing a request container."""

    __slots__ = ("_container", "_entered", "_manager", "_parent", "_scope")

    def __init__(self, parent: AsyncContainer, scope: dict[str, Any]) -> None:
        self._parent = parent
        self._scope = scope
        self._manager: Any = None
        self._entered: AsyncContainer | None = None

    async def get(self, dependency_type: Any, component: Any = DEFAULT_COMPONENT) -> Any:
        container = self._entered
        if container is None:
            self._manager = self._parent({Request: Request(self._scope)}, scope=DIScope.REQUEST)  # type: ignore[arg-type]
            container = self._entered = await self._manager.__aenter__()
        return await container.get(dependency_type, component)

    async def close(self, error: BaseException | None) -> None:
        if self._manager is not None:
            manager, self._manager, self._entered = self._manager, None, None
            await manager.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)


def edge_middleware(app: ASGIApp, metrics: RequestMetrics, container: AsyncContainer | None = None) -> ASGIApp:
    """With `container`, each request gets a `LazyRequestContainer` where dishka's
    Litestar integration looks for its request container (`request.state.dishka_container`)."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        decisions = start_collecting()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        encoded_id = request_id.encode()

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", encoded_id)]
                if decisions:
                    decision = closest_to_exhaustion(decisions)
                    if decision is not None:
                        headers += [
                            (b"ratelimit-limit", str(decision.limit).encode()),
                            (b"ratelimit-remaining", str(decision.remaining).encode()),
                            (b"ratelimit-reset", str(decision.reset_after).encode()),
                        ]
                message = {**message, "headers": headers}
            await send(message)

        lazy = None
        if container is not None:
            lazy = LazyRequestContainer(container, scope)
            scope.setdefault("state", {})["dishka_container"] = lazy
        error: BaseException | None = None
        try:
            await app(scope, receive, send_with_headers)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if lazy is not None:
                await lazy.close(error)
            metrics.record(
                metric_method(scope["method"]),
                scope.get("path_template") or "unmatched",
                status,
                time.perf_counter() - started,
            )

    return middleware


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode()
            break
    return os.urandom(16).hex()
