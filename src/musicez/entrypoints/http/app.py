"""The Litestar application factory: `create_app(*override_providers, settings=...)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dishka import AsyncContainer, Provider
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.postgres.migrate import upgrade
from musicez.adapters.usage import BufferedUsageRecorder
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.ports import UnitOfWork
from musicez.entrypoints.container import build_container
from musicez.entrypoints.http.body import JsonBodyRequest
from musicez.entrypoints.http.client_address import parse_networks
from musicez.entrypoints.http.cors import cors_problem_documents
from musicez.entrypoints.http.docs import declare_problem_responses, docs_plugins, docs_static_router
from musicez.entrypoints.http.edge import RequestMetrics, edge_middleware
from musicez.entrypoints.http.guard import PUBLIC, exempt_public_routes, require_credentials
from musicez.entrypoints.http.problems import EXCEPTION_HANDLERS, schema_not_found_as_problem
from musicez.entrypoints.http.routes import auth, health, passwords, sessions
from musicez.entrypoints.http.routes.common import require_json
from musicez.entrypoints.logs import configure_logging
from musicez.entrypoints.settings import Settings

log = logging.getLogger("musicez")

USAGE_FLUSH_SECONDS = 15
SHUTDOWN_GRACE_SECONDS = 10

ROUTES = [
    auth.register,
    auth.login,
    auth.refresh,
    auth.me,
    sessions.logout,
    sessions.logout_all,
    sessions.logout_others,
    sessions.list_sessions,
    sessions.revoke_session,
    passwords.forgot_password,
    passwords.reset_password,
    passwords.change_password,
    health.live,
    health.ready,
    health.health,
    health.jwks,
    health.metrics,
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="MusicEZ Auth",
        version="1.0.0",
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
    buffer = await container.get(BufferedUsageRecorder)
    pending = buffer.drain()
    if not pending:
        return
    try:
        async with container() as request_container:
            uow = await request_container.get(UnitOfWork)
            async with uow:
                await uow.api_keys.record_usage(pending)
                await uow.commit()
    except Exception as error:
        log.warning("could not record API key usage: %s", type(error).__name__)


async def _usage_loop(container: AsyncContainer) -> None:
    while True:
        await asyncio.sleep(USAGE_FLUSH_SECONDS)
        await _flush_usage(container)


def create_app(*override_providers: Provider, settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    registry = CollectorRegistry()
    container = build_container(settings, registry, *override_providers)

    async def startup(app: Litestar) -> None:
        if settings.migrate_at_startup:
            await upgrade(await container.get(AsyncEngine))
        app.state.authenticate = await container.get(AuthenticateRequest)
        app.state.trusted_networks = parse_networks(settings.trusted_proxy_list)
        app.state.background_tasks = set()
        app.state.usage_loop = asyncio.create_task(_usage_loop(container))
        if not settings.redis_url:
            log.warning("No MUSICEZ_REDIS_URL: sessions and rate limits live in this process only (one worker).")

    async def shutdown(app: Litestar) -> None:
        app.state.usage_loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app.state.usage_loop
        pending: set[asyncio.Task[Any]] = app.state.background_tasks
        if pending:
            await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
        await _flush_usage(container)
        await container.close()

    cors = None
    if settings.cors_origin_list:
        cors = CORSConfig(
            allow_origins=settings.cors_origin_list,
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
            allow_credentials=False,
            max_age=600,
        )

    declare_problem_responses(ROUTES)
    app = Litestar(
        route_handlers=[*ROUTES, docs_static_router()],
        guards=[require_credentials],
        before_request=require_json,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_size,
        request_class=JsonBodyRequest,  # every body decoded in one place: malformed is a 400, never a 500
        cors_config=cors,
        logging_config=None,
        debug=False,
    )
    app.state.settings = settings
    app.asgi_handler = cors_problem_documents(app.asgi_handler)  # a refused preflight: a problem document
    exempt_public_routes(app)
    app.state.dishka_container = container
    # the edge enters dishka's request scope lazily (instead of setup_dishka's per-request middleware)
    app.asgi_handler = edge_middleware(app.asgi_handler, RequestMetrics(registry), container)
    return app
