"""The outermost ASGI layer: request ids, rate-limit headers, metrics, log context, and the
dishka request scope (entered only when a handler asks for a request-scoped dependency).

It wraps the whole application (routing included), so 404s and 405s get request ids too.
Everything here runs on every request, so it is kept to a few microseconds (bench/README.md).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from dishka import DEFAULT_COMPONENT, AsyncContainer
from dishka import Scope as DIScope
from dishka.exceptions import NoFactoryError
from litestar import Request
from prometheus_client import CollectorRegistry, Counter, Histogram

from musicez.application.activity import flush_request as flush_activity
from musicez.application.activity import request_binder as activity_binder
from musicez.application.client_context import client_binder
from musicez.entrypoints.http.guard import REQUEST_PRINCIPAL
from musicez.entrypoints.rate_observer import closest_to_exhaustion, decisions_binder

if TYPE_CHECKING:
    from musicez.entrypoints.http.refused_early import RefusedEarly

_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

ASGIApp = Any

# Metric labels come from a closed set: a made-up method is counted as OTHER and a path that
# matches no route as one `unmatched` route, so no client can grow /metrics (issue 11, item 3).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


# A HEAD request is served as its GET without the body (RFC 9110 9.3.2: a server that supports
# GET supports HEAD, as load balancers' and monitors' health checks expect): the app sees GET,
# this key keeps the request's own method for the access log (metrics count it as HEAD too).
HEAD_REQUEST = "musicez.head"


def metric_method(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


# Security headers on every response (OWASP's REST Security Cheat Sheet). A JSON answer may load,
# run and frame nothing; the one HTML page, the API reference (under `/schema`), runs Swagger UI
# from the service's own assets: its inline start-up script and inline styles, data: icons, and
# calls to the service itself. No page may frame either, and no page leaks a URL to another site.
# The policy goes by path (`/schema` and below: the page's), so no response's headers are read.
API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_PREFIX = "/schema"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")

Headers = tuple[tuple[bytes, bytes], ...]


def security_headers(public_url: str | None) -> tuple[Headers, Headers]:
    """The headers every response carries, for the API's answers and for the reference page's;
    with an `https://` public URL (`MUSICEZ_PUBLIC_URL`), also `Strict-Transport-Security` (a year,
    this host only): browsers then never try the service over plain HTTP. A browser ignores it on a
    plain-HTTP answer, so it is sent on all."""
    https = public_url is not None and public_url.strip().lower().startswith("https://")
    common = (*SECURITY_HEADERS, HSTS) if https else SECURITY_HEADERS
    return (*common, (b"content-security-policy", API_POLICY)), (*common, (b"content-security-policy", PAGE_POLICY))


FLUSH_SECONDS = 0.01
"""How long a request's samples may wait in its worker before they reach prometheus_client."""
MAX_PENDING = 4_096
"""At most this many samples wait per label set, whatever happens to the timer."""


class RequestMetrics:
    """Requests by route and status, and their latency, for `/metrics`.

    A request appends its duration to a list in this process; the samples reach
    prometheus_client in batches, at most `flush_after` seconds later (the first sample after a
    flush arms a timer on the event loop). With several workers each sample written through
    prometheus_client's multi-process files costs a lock, a struct pack into the mmap and three
    Python calls, and a request wrote three (its count, the histogram's bucket and sum): a tenth
    of `/health/live`'s whole cost. A batch writes each label set's totals once.

    A scrape calls `settle` first: it writes this process's samples and, with several workers,
    waits out twice `flush_after` so every other worker's batch written before the scrape
    arrived is in the files too. Shutdown calls `flush`.
    """

    def __init__(self, registry: CollectorRegistry, flush_after: float = FLUSH_SECONDS) -> None:
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
        self.flush_after = flush_after
        # (method label, route, status) -> durations not yet written. The keys are the label
        # sets (route templates, a known verb or OTHER), so the table stays as small as they are;
        # a made-up method is never a key (it takes `_pending_for` each time).
        self._pending: dict[tuple[str, str, int], list[float]] = {}
        self._writers: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._armed = False

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        pending = self._pending.get((method, route, status))
        if pending is None:
            pending = self._pending_for(method, route, status)
        pending.append(seconds)
        if not self._armed:
            self._arm()
        elif len(pending) >= MAX_PENDING:  # a timer that can no longer fire (its loop is gone) or a flood
            self.flush()

    def _pending_for(self, method: str, route: str, status: int) -> list[float]:
        key = (metric_method(method), route, status)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
        return pending

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): write at once
            self.flush()
            return
        self._armed = True
        loop.call_later(self.flush_after, self.flush)

    def flush(self) -> None:
        """Write every sample recorded so far to prometheus_client."""
        self._armed = False
        for key, durations in self._pending.items():
            if durations:
                count, observe_all = self._writers.get(key) or self._new_writers(*key)
                taken = durations[:]
                durations.clear()
                count(len(taken))
                observe_all(taken)

    async def settle(self, several_processes: bool) -> None:
        """Before a scrape: this process's samples written, and (with several workers) the
        other workers' batches of the requests that ended before this scrape began."""
        self.flush()
        if several_processes:
            await asyncio.sleep(2 * self.flush_after)

    def _new_writers(self, label: str, route: str, status: int) -> tuple[Any, Any]:
        writers = (
            self.requests.labels(label, route, str(status)).inc,
            _observe_all(self.latency.labels(label, route)),
        )
        self._writers[(label, route, status)] = writers
        return writers


def _observe_all(histogram: Any) -> Any:
    """`histogram.observe` of each duration, as one write per bucket that got any and one of the
    sum: the same values `observe` would leave, incremented the same way. Falls back to `observe`
    on another layout."""
    bounds, buckets, total = (getattr(histogram, n, None) for n in ("_upper_bounds", "_buckets", "_sum"))
    if not (isinstance(bounds, list) and isinstance(buckets, list) and len(bounds) == len(buckets) and total):

        def observe_each(durations: list[float]) -> None:
            for seconds in durations:
                histogram.observe(seconds)

        return observe_each
    increments = [bucket.inc for bucket in buckets]
    add = total.inc

    def observe_all(durations: list[float]) -> None:
        counts = [0] * len(increments)
        for seconds in durations:
            counts[bisect_left(bounds, seconds)] += 1
        add(math.fsum(durations))
        for index, count in enumerate(counts):
            if count:
                increments[index](count)

    return observe_all


class LazyRequestContainer:
    """dishka's request scope for one request, entered on the first `get` of a request-scoped
    dependency.

    Routes that resolve nothing per request (liveness) or only app-scoped use cases (`/auth/me`,
    the guarded reads) never pay for entering and closing a request container: an app-scoped
    dependency comes from the app container, which is what the request container would hand
    out too. Which dependencies are app-scoped is learnt once per type (`app_level`): dishka
    answers `NoFactoryError` when the app container cannot provide one."""

    __slots__ = ("_app_level", "_container", "_entered", "_manager", "_parent", "_scope")

    def __init__(self, parent: AsyncContainer, scope: dict[str, Any], app_level: dict[Any, bool]) -> None:
        self._parent = parent
        self._scope = scope
        self._app_level = app_level
        self._manager: Any = None
        self._entered: AsyncContainer | None = None

    async def get(self, dependency_type: Any, component: Any = DEFAULT_COMPONENT) -> Any:
        container = self._entered
        if container is None:
            key = (dependency_type, component)
            if self._app_level.get(key, True):
                try:
                    found = await self._parent.get(dependency_type, component)
                except NoFactoryError:
                    self._app_level[key] = False  # request-scoped: from now on straight to the request scope
                else:
                    self._app_level[key] = True
                    return found
            self._manager = self._parent({Request: Request(self._scope)}, scope=DIScope.REQUEST)  # type: ignore[arg-type]
            container = self._entered = await self._manager.__aenter__()
        return await container.get(dependency_type, component)

    @property
    def entered(self) -> bool:
        return self._manager is not None

    async def close(self, error: BaseException | None) -> None:
        if self._manager is not None:
            manager, self._manager, self._entered = self._manager, None, None
            await manager.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)


def _bound_request_id_var() -> Any:
    """structlog's context variable behind `request_id`, taken once (public API: the token of a
    bind names its variable), so each request sets it directly."""
    tokens = structlog.contextvars.bind_contextvars(request_id="")
    structlog.contextvars.reset_contextvars(**tokens)
    return tokens["request_id"].var


_REQUEST_ID = _bound_request_id_var()


DISHKA_CONTAINER = "dishka_container"  # where dishka's Litestar integration looks (`request.state`)


def attach_request_container(scope: dict[str, Any], container: AsyncContainer, app_level: dict[Any, bool]) -> None:
    """Give this request a `LazyRequestContainer`, for a route whose handler dishka injects. Only
    those routes get one (the hook knows the route, `hooks.py`): the rest never make one."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    state[DISHKA_CONTAINER] = LazyRequestContainer(container, scope, app_level)


def outer_middleware(  # noqa: PLR0915 - the hot path's one closure: each helper is a call per request
    app: ASGIApp,
    metrics: RequestMetrics,
    client_of: Callable[[Any], str],
    refused_early: Callable[[], RefusedEarly | None] = lambda: None,
    fixed_headers: tuple[Headers, Headers] = security_headers(None),
) -> ASGIApp:
    """Around the whole app. A request whose route entered dishka's request scope (through the
    `LazyRequestContainer` the hook attached) has that scope closed here, after the response.

    `client_of` works out a scope's client address; each request binds it with its scope, so the
    security events of every route carry the client id (worked out only if one is recorded).

    `refused_early` (set at start-up): a 4xx of a per-client-limited route that counted nothing
    (refused before its use case) is counted when its response starts, for its `RateLimit-*`.

    `fixed_headers`: the security headers of the API's answers and of the reference page's
    (`security_headers`)."""

    set_request_id = _REQUEST_ID.set
    set_client = client_binder()
    set_decisions = decisions_binder()  # the rate-limit decisions of this request, for its headers
    set_activity = activity_binder()  # its security activity, written before its response
    set_principal, get_principal = REQUEST_PRINCIPAL.set, REQUEST_PRINCIPAL.get
    perf_counter = time.perf_counter
    record = metrics.record
    api_headers, page_headers = fixed_headers

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        decisions: list[Any] = []
        activity: list[Any] = []
        set_decisions(decisions)
        set_activity(activity)
        # `request_id` is the only variable bound to the log context (`test_ops_logs`), so setting
        # it is the whole reset: structlog's `clear_contextvars` walks every context variable.
        set_request_id(request_id)
        set_principal(None)
        set_client((client_of, scope))
        started = perf_counter()
        status = 500
        method = scope["method"]
        head = method == "HEAD" and _served_as_get(scope)

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if head:
                message = _without_body(message)
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 405 or method == "OPTIONS":
                    _allow_head(message)
                if activity or (status >= 400 and not decisions):
                    await _before_start(activity, decisions, scope, status, refused_early())
                _finish_headers(
                    message,
                    request_id,
                    decisions,
                    get_principal() is not None,
                    page_headers if scope["path"].startswith(PAGE_PREFIX) else api_headers,
                )
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        except BaseException as error:
            if activity:  # a response that never started (flushing twice writes nothing twice)
                await flush_activity(activity)
            state = scope.get("state")
            lazy = state.get(DISHKA_CONTAINER) if state else None
            if isinstance(lazy, LazyRequestContainer):
                await lazy.close(error)
            raise
        else:
            if activity:  # events recorded after the response started (flushing twice writes nothing twice)
                await flush_activity(activity)
            # the request container the hook attached (`attach_request_container`), if any
            state = scope.get("state")
            lazy = state.get(DISHKA_CONTAINER) if state else None
            if isinstance(lazy, LazyRequestContainer):
                await lazy.close(None)
        finally:
            record(method, scope.get("path_template") or "unmatched", status, perf_counter() - started)

    return middleware


def _served_as_get(scope: dict[str, Any]) -> bool:
    """A HEAD request goes to the app as its GET (`HEAD_REQUEST`)."""
    scope["method"] = "GET"
    scope[HEAD_REQUEST] = True
    return True


def _without_body(message: dict[str, Any]) -> dict[str, Any]:
    if message["type"] != "http.response.body":
        return message
    return {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}


def _allow_head(message: dict[str, Any]) -> None:
    """`Allow` names HEAD next to GET (a HEAD is served as its GET: `HEAD_REQUEST`)."""
    headers = message.get("headers", ())
    message["headers"] = [
        (name, _allow_with_head(value) if name.lower() == b"allow" else value) for name, value in headers
    ]


def _allow_with_head(allow: bytes) -> bytes:
    methods = [m.strip() for m in allow.split(b",")]
    if b"GET" in methods and b"HEAD" not in methods:
        methods.insert(methods.index(b"GET") + 1, b"HEAD")
    return b", ".join(methods)


async def _before_start(
    activity: list[Any], decisions: list[Any], scope: dict[str, Any], status: int, early: RefusedEarly | None
) -> None:
    """What must be done before a response starts, when there is any: its security activity
    written, and a request refused before its use case counted against its per-client limit."""
    if activity:
        await flush_activity(activity)
    if early is not None and status >= 400 and not decisions and early.concerns(scope, status):
        await early.count(scope)


def _finish_headers(
    message: dict[str, Any], request_id: str, decisions: list[Any], authenticated: bool, fixed: Headers
) -> None:
    headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode()), *fixed]
    if decisions:
        _add_rate_headers(headers, decisions)
    if authenticated:
        _never_stored(headers)
    message["headers"] = headers  # the message is the app's own, made for this response


def _never_stored(headers: list[tuple[bytes, bytes]]) -> None:
    """A response to an authenticated request is the principal's own: no cache may keep it
    (`Cache-Control: no-store`, unless the route chose its own). Set here, as bytes, rather than by
    each route's `cache_control`, which Litestar merges through its header objects per response."""
    for name, _ in headers:
        if name == b"cache-control":
            return
    headers.append((b"cache-control", b"no-store"))


def _add_rate_headers(headers: list[tuple[bytes, bytes]], decisions: list[Any]) -> None:
    decision = decisions[0] if len(decisions) == 1 else closest_to_exhaustion(decisions)
    if decision is not None:
        headers += (
            (b"ratelimit-limit", b"%d" % decision.limit),
            (b"ratelimit-remaining", b"%d" % decision.remaining),
            (b"ratelimit-reset", b"%d" % decision.reset_after),
        )


class _RequestIds:
    """The client's `X-Request-ID` when it is sane, else 32 hex characters of os.urandom, read
    2 KiB at a time (one system call per 128 ids)."""

    __slots__ = ("_at", "_pool")

    def __init__(self) -> None:
        self._pool = ""
        self._at = 0

    def __call__(self, headers: list[tuple[bytes, bytes]]) -> str:
        for name, value in headers:
            if name == b"x-request-id":
                if _SANE_REQUEST_ID.fullmatch(value):
                    return value.decode()
                break
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(2048).hex(), 0
        self._at = at + 32
        return self._pool[at : at + 32]


_request_id = _RequestIds()
