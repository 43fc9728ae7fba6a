"""The Litestar application factory: `create_app(*override_providers, settings=...)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dishka import AsyncContainer, Provider
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CollectorRegistry

from musicez import __version__
from musicez.application.activity import BackgroundWork, PurgeActivity
from musicez.application.api_key_usage import FlushApiKeyUsage
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.policies import ThrottlePolicy
from musicez.application.throttle import Throttle
from musicez.entrypoints.composition import client_ids, describe_outage, prepare_schema
from musicez.entrypoints.container import build_container
from musicez.entrypoints.dependency_gauge import watch_dependencies
from musicez.entrypoints.http.access_log import access_log
from musicez.entrypoints.http.body import JsonBodyRequest
from musicez.entrypoints.http.client_address import client_of_scope, parse_networks
from musicez.entrypoints.http.cors import cors_problem_documents, listed_origins_only
from musicez.entrypoints.http.docs import (
    bound_nullable_strings,
    declare_problem_responses,
    docs_plugins,
    docs_static_router,
    documented_operations,
)
from musicez.entrypoints.http.guard import PUBLIC
from musicez.entrypoints.http.hooks import before_every_request, specialise_hooks
from musicez.entrypoints.http.outer_middleware import RequestMetrics, outer_middleware, security_headers
from musicez.entrypoints.http.problems import exception_handlers, schema_not_found_as_problem
from musicez.entrypoints.http.reference import describe_operations
from musicez.entrypoints.http.refused_early import RefusedEarly
from musicez.entrypoints.http.routes import activity, admin, auth, health, passwords, resource_servers, sessions
from musicez.entrypoints.http.state import AppState
from musicez.entrypoints.logs import configure_logging
from musicez.entrypoints.origins import origin_of
from musicez.entrypoints.settings import Settings

log = logging.getLogger("musicez")

USAGE_FLUSH_SECONDS = 15
SHUTDOWN_GRACE_SECONDS = 10

# A router per routes module states what its routes share (path prefix, tags, guard rule). The
# routes that run on every request of a client stay on their own: a router is one more layer that
# Litestar walks on every request (it resolves exception handlers per request, ~50 ns a layer), and
# /auth/me and /health/live are the benchmark's yardsticks, /auth/verify a proxy's every call.
ROUTES: list[Router | HTTPRouteHandler] = [
    auth.router,
    auth.me,
    sessions.router,
    passwords.router,
    health.live,
    health.router,
    admin.router,
    resource_servers.verify,
    resource_servers.introspect,
    activity.router,
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="MusicEZ Auth",
        version=__version__,  # one version everywhere: the package, `musicez --version`, the document
        description="Authentication for the MusicEZ recommendation API: accounts, sessions and API keys.",
        path="/schema",
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT", description="A user's access token"
                ),
                "ApiKeyAuth": SecurityScheme(
                    type="apiKey", name="X-API-Key", security_scheme_in="header", description="An admin-managed API key"
                ),
            }
        ),
        security=[{"BearerAuth": []}, {"ApiKeyAuth": []}],
        render_plugins=docs_plugins(),
        openapi_router=Router(
            "/schema",
            route_handlers=[],
            opt=PUBLIC,
            include_in_schema=False,
            after_request=schema_not_found_as_problem,
        ),
    )


async def _flush_usage(container: AsyncContainer) -> None:
    try:
        async with container() as request_container:
            flush = await request_container.get(FlushApiKeyUsage)
            await flush.execute()
    except Exception as error:
        log.warning("could not record API key usage: %s", type(error).__name__)


async def _usage_loop(container: AsyncContainer) -> None:
    while True:
        await asyncio.sleep(USAGE_FLUSH_SECONDS)
        await _flush_usage(container)


async def _purge_loop(container: AsyncContainer, every: int) -> None:
    """Expired security activity goes at start-up and then every `every` seconds."""
    while True:
        try:
            purge = await container.get(PurgeActivity)
            removed = await purge.execute()
            if removed:
                log.info("purged %d expired activity items", removed)
        except Exception as error:
            log.warning("could not purge expired activity: %s", type(error).__name__)
        await asyncio.sleep(every)


def cors_config(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        # as a browser serialises them, as the CSRF check reads them (`HTTPS://App.example.com/` too)
        allow_origins=[origin_of(entry) or entry for entry in settings.cors_origins],
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        expose_headers=[
            "WWW-Authenticate",
            "X-Request-ID",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
        allow_credentials=True,  # browser mode: the refresh cookie goes with listed origins' requests
        max_age=600,
    )


async def _prepare_state(state: AppState, container: AsyncContainer, settings: Settings) -> None:
    """What the requests read from the app's state, set at start-up."""
    state.authenticate = await container.get(AuthenticateRequest)
    state.trusted_networks = parse_networks(settings.trusted_proxies)
    state.ipv6_client_prefix = settings.ipv6_client_prefix
    throttle, policy = await container.get(Throttle), await container.get(ThrottlePolicy)
    state.refused_early = RefusedEarly(throttle, policy, client_of_scope(state), settings.ipv6_client_prefix)


def create_app(*override_providers: Provider, settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    registry = CollectorRegistry()
    container = build_container(settings, registry, *override_providers)
    stop_watching_dependencies = watch_dependencies(registry)
    state = AppState(settings, container)

    async def startup(app: Litestar) -> None:
        if state.request_metrics is not None:  # a timer armed on an earlier event loop is gone with it
            state.request_metrics.flush()
        await prepare_schema(container, settings.migrate_at_startup)
        await _prepare_state(state, container, settings)
        state.usage_loop = asyncio.create_task(_usage_loop(container))
        state.activity_purge = asyncio.create_task(_purge_loop(container, settings.activity_purge_interval))
        if not settings.redis_url:
            log.warning("No MUSICEZ_REDIS_URL: sessions and rate limits live in this process only (one worker).")

    async def shutdown(app: Litestar) -> None:
        usage_loop = state.usage_loop
        if usage_loop is None:  # start-up failed before it began: nothing of ours to wind down
            await container.close()
            return
        usage_loop.cancel()
        activity_purge = state.activity_purge
        if activity_purge is not None:
            activity_purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await activity_purge
        with contextlib.suppress(asyncio.CancelledError):
            await usage_loop
        # Work that outlived its request (reset mails, activity, security mails), while the
        # container it opens scopes in is still open.
        await (await container.get(BackgroundWork)).drain(SHUTDOWN_GRACE_SECONDS)
        await _flush_usage(container)
        await container.close()
        stop_watching_dependencies()
        if state.request_metrics is not None:
            state.request_metrics.flush()

    cors = cors_config(settings)

    app = Litestar(
        route_handlers=[*ROUTES, docs_static_router()],
        before_request=before_every_request(state),  # the guard, then the content-type check (hooks.py)
        exception_handlers=exception_handlers(describe_outage),  # type: ignore[arg-type]
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_size,
        request_class=JsonBodyRequest,  # every body decoded in one place: malformed is a 400, never a 500
        cors_config=cors,
        logging_config=None,
        debug=False,
    )
    app.state.musicez = state
    specialise_hooks(app, state)  # each route's own hook, or none where it would do nothing
    operations = documented_operations(app)
    declare_problem_responses(handler for _, handler in operations)
    describe_operations(operations)  # summaries, descriptions, examples: read when the document is built
    bound_nullable_strings(app)
    if cors is not None:  # without a CORS config no preflight is ever refused, so nothing to rewrite
        app.asgi_handler = cors_problem_documents(app.asgi_handler)  # a refused preflight: a problem document
        app.asgi_handler = listed_origins_only(app.asgi_handler, cors)
    if settings.access_log:  # inside the outer middleware, so each line carries the request id
        client_id = client_ids(settings)
        app.asgi_handler = access_log(app.asgi_handler, client_id, parse_networks(settings.trusted_proxies))
    # dishka's request scope: entered lazily, only by routes it injects (instead of setup_dishka's
    # per-request middleware); the hook attaches it (hooks.py), the outer middleware closes it
    state.request_metrics = RequestMetrics(registry)
    app.asgi_handler = outer_middleware(
        app.asgi_handler,
        state.request_metrics,
        client_of_scope(state),
        lambda: state.refused_early,
        security_headers(settings.public_url),
    )
    return app
