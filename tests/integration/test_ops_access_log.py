"""The access log: off by default; on, one line per request with request id, method, route
template, status, duration and the keyed client id, and never a token or a query string."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.support.api import MakeSettings, bearer, register


def _access_lines(captured: str) -> list[dict[str, object]]:
    lines = []
    for line in captured.splitlines():
        if '"musicez.access"' in line:
            lines.append(json.loads(line))
    return lines


async def test_no_access_log_by_default(make_settings: MakeSettings, capsys: pytest.CaptureFixture[str]) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(log_format="json"))) as client:
        await client.get("/health/live")
    assert _access_lines(capsys.readouterr().err) == []


async def test_one_line_per_request_without_secrets(
    make_settings: MakeSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings=make_settings(log_format="json", access_log=True))
    async with AsyncTestClient(app) as client:
        tokens = await register(client)
        capsys.readouterr()
        me = await client.get("/auth/me?token=secret-in-the-query", headers=bearer(tokens))
        await client.get("/no/such/path")
        await client.request("BREW", "/auth/me")
        await client.head("/health/live")  # served as its GET, logged as what it was
    captured = capsys.readouterr().err
    lines = _access_lines(captured)
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/auth/me", 200),
        ("GET", "unmatched", 404),
        ("OTHER", "unmatched", 405),  # no route matched this method
        ("HEAD", "/health/live", 200),
    ]
    first = lines[0]
    assert first["request_id"] == me.headers["x-request-id"]
    assert isinstance(first["duration_ms"], float)
    assert isinstance(first["client_id"], str)
    assert len(first["client_id"]) == 24
    for secret in (tokens["access_token"], tokens["refresh_token"], "secret-in-the-query", "testclient"):
        assert secret not in json.dumps(lines)
