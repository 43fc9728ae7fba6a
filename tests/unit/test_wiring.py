"""The production wiring, resolved over the fakes: whatever a route, the app or the CLI asks the
container for must come out of it, so a wiring mistake fails here, without a database."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, get_type_hints

import pytest
from dishka import Provider
from dishka.integrations.base import default_parse_dependency
from litestar.handlers import HTTPRouteHandler
from sqlalchemy.ext.asyncio import AsyncEngine

import musicez.entrypoints.http.routes as routes
from musicez.application.accounts import LoginUser, RegisterUser
from musicez.application.activity import PurgeActivity
from musicez.application.api_key_usage import FlushApiKeyUsage
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.health import CheckHealth
from musicez.application.passwords import RequestPasswordReset
from musicez.application.security_mail import ReportNotMe
from musicez.entrypoints.container import UseCaseProvider
from musicez.entrypoints.providers.activity import ActivityProvider
from tests.support.fake_infrastructure import FakeNotExpected
from tests.support.world import MakeWorld, World


def route_dependencies() -> set[Any]:
    """Every type a route handler takes `FromDishka`, parsed as dishka's integration parses it."""
    found: set[Any] = set()
    for module_info in pkgutil.iter_modules(routes.__path__):
        module = importlib.import_module(f"{routes.__name__}.{module_info.name}")
        for handler in vars(module).values():
            if not isinstance(handler, HTTPRouteHandler):
                continue
            function = getattr(handler.fn, "__dishka_orig_func__", handler.fn)
            hints = get_type_hints(function, include_extras=True)
            for name, parameter in inspect.signature(function).parameters.items():
                key = default_parse_dependency(parameter, hints.get(name))
                if key is not None:
                    found.add(key.type_hint)
    return found


def provided_by(provider: Provider) -> set[Any]:
    return {factory.provides.type_hint for factory in provider.factories}


def _name(kind: Any) -> str:
    return str(kind.__qualname__)


def test_the_routes_are_found() -> None:
    """The scan below finds what it should (a scan that finds nothing would prove nothing)."""
    assert {RegisterUser, LoginUser, ReportNotMe, CheckHealth} <= route_dependencies()


@pytest.mark.parametrize(
    "kind",
    sorted(
        route_dependencies()
        | provided_by(UseCaseProvider())
        | provided_by(ActivityProvider())
        # asked for by name: the app's start-up and loops, the forgot-password route's task
        | {AuthenticateRequest, FlushApiKeyUsage, PurgeActivity, RequestPasswordReset},
        key=lambda kind: f"{kind.__module__}.{_name(kind)}",
    ),
    ids=_name,
)
async def test_the_container_builds(kind: Any, world: World) -> None:
    assert await world.request.get(kind) is not None


async def test_nothing_reaches_a_real_database(world: World) -> None:
    with pytest.raises(FakeNotExpected):
        await world.request.get(AsyncEngine)


async def test_the_activity_recorder_wraps_the_plain_sink_only_when_asked(make_world: MakeWorld) -> None:
    from musicez.application.activity import ActivityRecorder

    plain, recorded = await make_world(), await make_world(activity=True)
    assert plain.event_sink is plain.events
    assert isinstance(recorded.event_sink, ActivityRecorder)
