"""Liveness, readiness, detailed health, the JWK set and metrics."""

from __future__ import annotations

from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from musicez.application.health import CheckHealth
from musicez.application.public_keys import PublicKeys
from musicez.domain.errors import ServiceUnavailable
from musicez.entrypoints.http.guard import PUBLIC, SCRAPE, _credential_headers, _parse_bearer
from musicez.entrypoints.http.routes.common import client_of
from musicez.entrypoints.http.schemas import DependencyOut, HealthOut, Status
from musicez.entrypoints.http.state import of

TAGS = ["health"]
_LIVE = Status("ok")


# Registered on its own, not in `router`: the benchmark's ceiling (see ROUTES in app.py).
@get("/health/live", opt={**PUBLIC, "raises": None}, tags=TAGS)  # never a problem document
async def live() -> Status:
    """The process is up. No details."""
    return _LIVE


@get(
    "/health/ready",
    opt=PUBLIC,
    responses={503: ResponseSpec(Status, description="The database or the session store does not answer")},
)
@inject
async def ready(check: FromDishka[CheckHealth]) -> Response[Status]:
    """The database and the session store answer. No details."""
    report = await check.execute()
    return Response(Status("ok" if report.ok else "unavailable"), status_code=200 if report.ok else 503)


def _credentials(request: Request[Any, Any, Any]) -> tuple[str | None, str | None, str | None]:
    """The bearer token, the API key and (with a key) the client address of a route that checks
    its own credentials, read as the guard reads them: a header sent more than once is refused,
    and bad keys spend the address's API-key failure budget (API.md, Hardening v1.1)."""
    authorization, api_key = _credential_headers(request.scope)
    token = None if authorization is None else _parse_bearer(authorization)
    return token, api_key, None if api_key is None else client_of(request)


# /health checks its own credentials, so that it can still report while Redis is down: an API key
# is then checked against the database alone (the rate limit and sessions live in Redis).
CHECKS_OWN_CREDENTIALS = {"public": True, "checks_own_credentials": True}


async def _authenticate_for_health(request: Request[Any, Any, Any]) -> None:
    authenticate = of(request).authenticate
    token, api_key, client = _credentials(request)
    try:
        await authenticate.execute(token, api_key, client)
    except ServiceUnavailable:
        if token is not None or api_key is None:
            raise
        await authenticate.api_key.execute(api_key)


@get(
    "/health",
    opt=CHECKS_OWN_CREDENTIALS,
    responses={503: ResponseSpec(HealthOut, description="A dependency is unavailable; each one's status and latency")},
)
@inject
async def health(request: Request[Any, Any, Any], check: FromDishka[CheckHealth]) -> Response[HealthOut]:
    """Each dependency with its status and latency."""
    await _authenticate_for_health(request)
    report = await check.execute()
    body = HealthOut(
        status="ok" if report.ok else "unavailable",
        dependencies={
            d.name: DependencyOut("ok" if d.ok else "unavailable", d.latency_ms, d.error) for d in report.dependencies
        },
    )
    return Response(body, status_code=200 if report.ok else 503)


@get("/.well-known/jwks.json", opt={**PUBLIC, "raises": (NotFoundException,)})
@inject
async def jwks(keys: FromDishka[PublicKeys]) -> dict[str, Any]:
    """The public keys that verify access tokens."""
    if not keys.asymmetric:
        raise NotFoundException()
    return keys.jwks()


@get("/metrics", opt=SCRAPE, include_in_schema=False)
@inject
async def metrics(request: Request[Any, Any, Any], registry: FromDishka[CollectorRegistry]) -> Response[bytes]:
    """Prometheus metrics: `Authorization: Bearer <MUSICEZ_METRICS_TOKEN>` when that is set, or an
    API key (a user token gets 403); the guard checks which (`SCRAPE`)."""
    state = of(request)
    several_processes = bool(state.settings.prometheus_multiproc_dir)
    if state.request_metrics is not None:  # the samples still batched in this worker (and the others')
        await state.request_metrics.settle(several_processes)
    if several_processes:
        # Several worker processes: every worker writes its samples there; any one answers for all.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    # The header as the exposition format names it: as `media_type`, Litestar would append a
    # second `charset`, which Prometheus's media-type parser refuses.
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


router = Router("/", route_handlers=[ready, health, jwks, metrics], tags=TAGS)
