"""A body that never arrives whole is the client's fault, never a 500 and never a wait without
end (API.md, Hardening rules v1.1: "No body is ever a 500"): one that ends before its declared
length (the client disconnected mid-body) is a 400 `validation_error`, one that has not all arrived
in time a 400 `validation_error` too (API.md pairs each code with one status), each logged as what it is.

The app is driven as the ASGI server drives it, with a `receive` that hands over part of a body
and then `http.disconnect`, or nothing more at all."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar import Litestar

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.http.body import JsonBodyRequest
from tests.integration.test_ops_logs import capture_root
from tests.support.api import PROBLEM_JSON, MakeSettings

Receive = Callable[[], Awaitable[dict[str, Any]]]
PART = b'{"email": "someone@example.com", "pass'
DECLARED = 80


@asynccontextmanager
async def started(app: Litestar, log: io.StringIO | None = None) -> AsyncIterator[Litestar]:
    """The app's lifespan on this test's own event loop, so a request can be driven in it too;
    its log lines (as the server writes them) into `log`."""
    capture = capture_root(log) if log is not None else None
    if capture is not None:
        logging.getLogger().addHandler(capture)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 30))["type"] == "lifespan.startup.complete"
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(outbox.get(), 30))["type"] == "lifespan.shutdown.complete"
        await lifespan
        if capture is not None:
            logging.getLogger().removeHandler(capture)


async def post(app: Litestar, receive: Receive, declared: int = DECLARED) -> tuple[int, dict[str, str], Any]:
    """POST /auth/login announcing a `declared`-byte JSON body, read through `receive`."""
    path = "/auth/login"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(declared).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 30)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, json.loads(body)


def part_then(last: dict[str, Any] | None) -> Receive:
    """Part of the body, then `last` (None: nothing ever again, as from a client that went quiet)."""
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": PART, "more_body": True}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if last is None:
            await asyncio.Event().wait()
        assert last is not None
        return last

    return receive


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_body_that_ends_early_is_a_400_not_a_500(make_settings: MakeSettings, log_format: str) -> None:
    app = create_app(settings=make_settings(access_log=True, log_format=log_format))
    log = io.StringIO()
    async with started(app, log):
        status, headers, body = await post(app, part_then({"type": "http.disconnect"}))
    assert status == 400, body
    assert headers["content-type"] == PROBLEM_JSON
    assert body["code"] == "validation_error"
    assert body["detail"] == "The request body ended before its declared length"
    assert body["errors"] == [{"field": "body", "message": body["detail"]}]
    assert headers["connection"] == "close"
    text = log.getvalue()
    assert "Traceback" not in text
    assert "unhandled error" not in text
    lines = [line for line in text.splitlines() if "musicez.access" in line]
    assert len(lines) == 1, text
    if log_format == "json":
        assert json.loads(lines[0])["status"] == 400
    else:
        assert "status=400" in lines[0]  # the access log says what it was


async def test_a_body_that_does_not_arrive_in_time_is_a_400(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JsonBodyRequest, "body_read_seconds", 0.3)
    app = create_app(settings=make_settings(access_log=True, log_format="json"))
    log = io.StringIO()
    async with started(app, log):
        loop = asyncio.get_running_loop()
        began = loop.time()
        status, headers, body = await post(app, part_then(None))
        waited = loop.time() - began
    assert status == 400, body
    assert 0.3 <= waited < 5
    assert headers["content-type"] == PROBLEM_JSON
    assert body["code"] == "validation_error"  # the body is what is wrong
    assert body["status"] == 400
    assert body["detail"] == "The request body did not arrive within 0.3 seconds"
    assert headers["connection"] == "close"  # the rest of the body must not be taken for a request
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["status"] for line in lines if line.get("event") == "request"] == [400]
    assert not [line for line in lines if line.get("level") == "error"], lines


async def test_the_bound_is_for_the_whole_body_not_each_part(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trickle of one byte at a time, each in time on its own, still ends at the bound."""
    monkeypatch.setattr(JsonBodyRequest, "body_read_seconds", 0.5)

    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b" ", "more_body": True}

    app = create_app(settings=make_settings())
    async with started(app):
        status, _, body = await post(app, trickle)
    assert status == 400, body


async def test_a_whole_body_in_parts_is_read_as_before(make_settings: MakeSettings) -> None:
    whole = json.dumps({"email": "nobody@example.com", "password": "not-the-password-1"}).encode()
    parts = [whole[:10], whole[10:30], whole[30:]]
    messages = [{"type": "http.request", "body": p, "more_body": i < 2} for i, p in enumerate(parts)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    app = create_app(settings=make_settings())
    async with started(app):
        status, _, body = await post(app, receive, len(whole))
    assert status == 401, body  # the body was read whole: no such account
    assert body["code"] == "invalid_credentials"
