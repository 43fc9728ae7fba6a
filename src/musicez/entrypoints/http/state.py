"""What the app keeps for its requests: one typed object, `app.state.musicez`.

The guard gets it through its hook's closure (no `State` lookup on the guarded hot path:
each `app.state.<name>` is a Python-level `__getattr__`, ~0.3 µs); a handler reads it with
`of(request)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dishka import AsyncContainer
from litestar import Litestar, Request

from musicez.application.authenticate import AuthenticateRequest
from musicez.entrypoints.http.client_address import Network
from musicez.entrypoints.settings import Settings

if TYPE_CHECKING:
    from musicez.entrypoints.http.outer_middleware import RequestMetrics
    from musicez.entrypoints.http.refused_early import RefusedEarly


@dataclass(slots=True, eq=False)
class AppState:
    settings: Settings
    container: AsyncContainer  # the app-scope container (dishka); requests get their own scope
    # Set at start-up (reading either before then is an AttributeError, as it always was):
    authenticate: AuthenticateRequest = field(init=False)
    trusted_networks: list[Network] = field(init=False)
    ipv6_client_prefix: int = 128  # MUSICEZ_IPV6_CLIENT_PREFIX: what a per-client limit counts
    usage_loop: asyncio.Task[None] | None = None  # None until start-up began
    activity_purge: asyncio.Task[None] | None = None
    request_metrics: RequestMetrics | None = None  # the outer middleware's (batched) request samples
    # Counts a request a per-client-limited route refused before its use case (refused_early.py)
    refused_early: RefusedEarly | None = None
    # (type, component) -> whether the app container provides it (learnt once per type, for
    # the request containers the hooks attach: `LazyRequestContainer`)
    app_level: dict[Any, bool] = field(default_factory=dict)


def of(request: Request[Any, Any, Any]) -> AppState:
    state: AppState = request.app.state.musicez
    return state


def of_app(app: Litestar) -> AppState:
    state: AppState = app.state.musicez
    return state
