"""The outer middleware's lazy dishka request scope (issue 12): app-scoped dependencies come from the app
container without entering a request scope; a request-scoped one enters it once, and closing
the request closes what it made. If dishka changes what this relies on (`NoFactoryError` from an
app container asked for a request-scoped type), these tests fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dishka import Provider, Scope, make_async_container, provide

from musicez.entrypoints.http.outer_middleware import LazyRequestContainer


class AppThing:
    pass


class RequestThing:
    closed = 0


class Things(Provider):
    app_thing = provide(AppThing, scope=Scope.APP)

    @provide(scope=Scope.REQUEST)
    async def request_thing(self) -> AsyncIterator[RequestThing]:
        thing = RequestThing()
        yield thing
        RequestThing.closed += 1


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}


async def test_app_scoped_dependencies_never_enter_the_request_scope() -> None:
    container = make_async_container(Things())
    learnt: dict[Any, bool] = {}
    try:
        lazy = LazyRequestContainer(container, scope(), learnt)
        first = await lazy.get(AppThing)
        assert first is await container.get(AppThing)
        assert not lazy.entered
        assert learnt == {(AppThing, ""): True}
    finally:
        await container.close()


async def test_a_request_scoped_dependency_enters_once_and_is_closed_with_the_request() -> None:
    container = make_async_container(Things())
    learnt: dict[Any, bool] = {}
    closed_before = RequestThing.closed
    try:
        lazy = LazyRequestContainer(container, scope(), learnt)
        one = await lazy.get(RequestThing)
        assert lazy.entered
        assert await lazy.get(RequestThing) is one  # the same request scope, not a second one
        assert await lazy.get(AppThing) is await container.get(AppThing)
        assert learnt[(RequestThing, "")] is False
        await lazy.close(None)
        assert RequestThing.closed == closed_before + 1
        # A later request learns nothing again: it goes straight to its own request scope.
        again = LazyRequestContainer(container, scope(), learnt)
        assert await again.get(RequestThing) is not one
        await again.close(None)
        assert RequestThing.closed == closed_before + 2
    finally:
        await container.close()
