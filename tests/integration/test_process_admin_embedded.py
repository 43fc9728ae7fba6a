"""`musicez users disable|logout` against a server on the embedded defaults (SQLite, no Redis):
the sessions live in the server's memory, and the CLI, another process, still ends them at once
(API.md: "Disabling ends every session of the user at once, on every process"). The CLI tells the
server through the data directory (adapters/memory/host_revocations.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import run_cli, running_servers, service_env, write_signing_key

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded_env(secret_key: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("embedded")
    return service_env(
        database_url=None,  # the SQLite file in the data directory
        redis_url=None,  # sessions in the server's memory
        redis_prefix="mez",
        secret_key=secret_key,
        signing_key_file=write_signing_key(directory / "keys"),
        data_dir=directory / "data",
    )


@pytest.fixture(scope="module")
def server(embedded_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        running_servers(1, embedded_env, tmp_path_factory.mktemp("cwd")) as (only,),
        httpx.Client(base_url=only.url, timeout=10) as client,
    ):
        yield client


def _cli(env: dict[str, str], *args: str) -> str:
    done = run_cli(list(args), env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _refused(response: httpx.Response, code: str, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert (response.json()["code"], response.json().get("reason")) == (code, reason)


def _two_sessions(server: httpx.Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    address = unique_email("embedded")
    first = server.post("/auth/register", json={"email": address, "password": STRONG_PASSWORD})
    assert first.status_code == 201, first.text
    second = server.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD, "device_name": "Phone"})
    assert second.status_code == 200, second.text
    for tokens in (first.json(), second.json()):
        assert server.get("/auth/me", headers=_bearer(tokens)).status_code == 200
    return address, first.json(), second.json()


def _login(server: httpx.Client, address: str) -> httpx.Response:
    return server.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD})


def test_cli_disable_ends_the_sessions_the_server_holds(server: httpx.Client, embedded_env: dict[str, str]) -> None:
    address, first, second = _two_sessions(server)

    assert "every session ended" in _cli(embedded_env, "users", "disable", address, "--reason", "review")

    for tokens in (first, second):  # the very next request
        _refused(server.get("/auth/me", headers=_bearer(tokens)), "token_revoked", "account_disabled")
        refresh = server.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        _refused(refresh, "invalid_refresh_token", "account_disabled")
    assert _login(server, address).status_code == 403

    _cli(embedded_env, "users", "enable", address)
    for tokens in (first, second):  # ended sessions stay ended
        _refused(server.get("/auth/me", headers=_bearer(tokens)), "token_revoked", "account_disabled")
    again = _login(server, address)
    assert again.status_code == 200, again.text
    feed = server.get("/auth/activity", headers=_bearer(again.json())).json()["items"]
    ended = [item for item in feed if item["type"] == "session_ended"]
    assert sorted(item["session_id"] for item in ended) == sorted([first["session_id"], second["session_id"]])
    assert all(item["detail"] == {"reason": "account_disabled", "by": "admin"} for item in ended)
    shown = json.loads(_cli(embedded_env, "users", "show", address, "--json"))
    assert (shown["disabled"], shown["disabled_reason"]) == (False, None)
    assert [s["id"] for s in shown["sessions"]] == [again.json()["session_id"]]  # the one opened since


def test_cli_logout_ends_them_and_a_later_login_stays(server: httpx.Client, embedded_env: dict[str, str]) -> None:
    address, first, second = _two_sessions(server)

    shown = json.loads(_cli(embedded_env, "users", "show", address, "--json"))  # what the server holds
    assert {s["id"] for s in shown["sessions"]} == {first["session_id"], second["session_id"]}
    listed = server.get("/auth/sessions", headers=_bearer(first)).json()
    assert sorted(shown["sessions"], key=lambda s: s["id"]) == sorted(
        ({k: v for k, v in s.items() if k != "current"} for s in listed), key=lambda s: s["id"]
    )

    out = _cli(embedded_env, "users", "logout", address)
    assert f"ended 2 sessions of {address}" in out
    assert json.loads(_cli(embedded_env, "users", "show", address, "--json"))["sessions"] == []

    later = _login(server, address)  # opened after the logout: not ended by it
    assert later.status_code == 200, later.text
    for tokens in (first, second):
        _refused(server.get("/auth/me", headers=_bearer(tokens)), "token_revoked", "admin_logout")
    assert server.get("/auth/me", headers=_bearer(later.json())).status_code == 200
    renewed = server.post("/auth/refresh", json={"refresh_token": later.json()["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    feed = server.get("/auth/activity", headers=_bearer(renewed.json())).json()["items"]
    ended = {item["session_id"]: item["detail"] for item in feed if item["type"] == "session_ended"}
    assert ended == {
        first["session_id"]: {"reason": "admin_logout", "by": "admin"},
        second["session_id"]: {"reason": "admin_logout", "by": "admin"},
    }
    assert len([item for item in feed if item["type"] == "session_ended"]) == 2  # one each, not one per process


def test_another_users_sessions_are_untouched(server: httpx.Client, embedded_env: dict[str, str]) -> None:
    target, *_ = _two_sessions(server)
    _, bystander, _ = _two_sessions(server)
    _cli(embedded_env, "users", "logout", target)
    assert server.get("/auth/me", headers=_bearer(bystander)).status_code == 200


def test_the_revocations_file_and_the_session_views_are_private(embedded_env: dict[str, str]) -> None:
    data = Path(embedded_env["MUSICEZ_DATA_DIR"])
    path = data / "revocations.log"
    assert path.exists()  # the tests above wrote it
    assert path.stat().st_mode & 0o077 == 0
    views = list((data / "sessions.d").rglob("*"))
    assert views  # the server shared what it holds
    assert all(view.stat().st_mode & 0o077 == 0 for view in views)
