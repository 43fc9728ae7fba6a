"""Smaller hardening items (issue 11, item 15): the development SQLite file and data dir are
private (0600 / 0700), and a disallowed CORS preflight answers a problem document."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.settings import Settings
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem

ALLOWED = "https://app.musicez.example"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_dev_sqlite_file_and_data_dir_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: without care, 0755 and 0644
    try:
        data = tmp_path / "data"
        settings = Settings.from_env(environ={}, data_dir=str(data), bcrypt_rounds=4, log_format="json")
        async with AsyncTestClient(create_app(settings=settings)) as client:
            response = await client.post("/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})
            assert response.status_code == 201, response.text
            assert mode(data) == 0o700
            database = data / "musicez.db"
            assert mode(database) == 0o600
            for path in data.iterdir():  # keys, secrets, the WAL: nothing readable by others
                assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
    finally:
        os.umask(old)


async def test_an_existing_world_readable_data_dir_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "old-data"
    data.mkdir(mode=0o755)
    (data / "musicez.db").touch(mode=0o644)
    settings = Settings.from_env(environ={}, data_dir=str(data), bcrypt_rounds=4, log_format="json")
    async with AsyncTestClient(create_app(settings=settings)) as client:
        assert (await client.get("/health/ready")).status_code == 200
    assert mode(data) == 0o700
    assert mode(data / "musicez.db") == 0o600


async def test_a_disallowed_cors_preflight_is_a_problem_document(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(cors_origins=ALLOWED))) as client:
        refused = await client.options(
            "/auth/login",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        body = assert_problem(refused, 400, "validation_error")
        assert [e["field"] for e in body["errors"]] == ["Origin"]
        refused = await client.options(
            "/auth/login",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "X-Evil",
            },
        )
        body = assert_problem(refused, 400, "validation_error")
        assert {e["field"] for e in body["errors"]} == {
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
        }
        allowed = await client.options(
            "/auth/login",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type",
            },
        )
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        # a plain OPTIONS (no preflight) is untouched
        plain = await client.options("/auth/login")
        assert plain.status_code == 204
        assert "allow" in plain.headers
