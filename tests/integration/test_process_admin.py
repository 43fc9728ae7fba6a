"""Account administration across two real `musicez serve` processes on Postgres and Redis:
`musicez users …` (a third process) and the admin routes must take effect on every process at once."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import run_cli, running_servers

pytestmark = pytest.mark.slow

WRONG_PASSWORD = "Wrong-Horse-Battery-9"
NEW_PASSWORD = "Brand-New-Melody-42"
USER_FIELDS = {"id", "email", "created_at", "disabled", "disabled_reason", "last_login_at"}


@pytest.fixture(scope="module")
def env(process_env: dict[str, str], process_dir: Path) -> dict[str, str]:
    return {**process_env, "MUSICEZ_MAIL_OUTBOX": str(process_dir / "outbox")}


@pytest.fixture(scope="module")
def pair(env: dict[str, str], process_dir: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with (
        running_servers(2, env, process_dir) as (a, b),
        httpx.Client(base_url=a.url, timeout=10) as on_a,
        httpx.Client(base_url=b.url, timeout=10) as on_b,
    ):
        yield on_a, on_b


def _cli(env: dict[str, str], *args: str) -> str:
    done = run_cli(list(args), env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    code: str = response.json()["code"]
    return code


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _login(client: httpx.Client, address: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    return client.post("/auth/login", json={"email": address, "password": password})


def _mails_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def _reset_link(outbox: Path, client: httpx.Client, address: str) -> str:
    assert client.post("/auth/password/forgot", json={"email": address}).status_code == 202
    deadline = time.monotonic() + 10
    while not _mails_to(outbox, address):
        assert time.monotonic() < deadline, "no reset mail"
        time.sleep(0.05)
    body = _mails_to(outbox, address)[-1].get_body(preferencelist=("plain",))
    assert body is not None
    return str(re.findall(r"\?token=([A-Za-z0-9_\-]+)", body.get_content())[0])


def _signed_up(on_a: httpx.Client, on_b: httpx.Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    address = unique_email("admin")
    first = on_a.post("/auth/register", json={"email": address, "password": STRONG_PASSWORD})
    assert first.status_code == 201, first.text
    second = _login(on_b, address)
    assert second.status_code == 200, second.text
    return address, first.json(), second.json()


def _assert_blocked(
    on_a: httpx.Client, on_b: httpx.Client, address: str, sessions: list[dict[str, Any]], outbox: Path, link: str
) -> None:
    for tokens in sessions:  # on the very next request, on both processes
        for client in (on_a, on_b):
            refused = client.get("/auth/me", headers=_bearer(tokens))
            assert _code(refused, 401) == "token_revoked"
            assert refused.json().get("reason") in (None, "account_disabled")
        assert _code(on_b.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401) == (
            "invalid_refresh_token"
        )
    assert _code(_login(on_a, address), 403) == "account_disabled"
    assert _code(_login(on_b, address, WRONG_PASSWORD), 401) == "invalid_credentials"
    mails = len(_mails_to(outbox, address))
    assert on_b.post("/auth/password/forgot", json={"email": address}).status_code == 202
    time.sleep(0.5)  # the reset mail is sent off the request path: give it the time it would take
    assert len(_mails_to(outbox, address)) == mails
    reset = on_a.post("/auth/password/reset", json={"token": link, "new_password": NEW_PASSWORD})
    assert _code(reset, 400) == "invalid_reset_token"


def _assert_enabled(on_a: httpx.Client, on_b: httpx.Client, address: str, sessions: list[dict[str, Any]]) -> None:
    for tokens in sessions:  # old sessions stay dead
        assert _code(on_a.get("/auth/me", headers=_bearer(tokens)), 401) == "token_revoked"
    again = _login(on_b, address)
    assert again.status_code == 200, again.text
    assert on_a.get("/auth/me", headers=_bearer(again.json())).status_code == 200


def test_cli_disable_and_enable_across_two_processes(
    pair: tuple[httpx.Client, httpx.Client], env: dict[str, str], process_dir: Path
) -> None:
    on_a, on_b = pair
    outbox = process_dir / "outbox"
    address, first, second = _signed_up(on_a, on_b)
    link = _reset_link(outbox, on_a, address)
    assert on_a.get("/auth/me", headers=_bearer(first)).status_code == 200  # B's session, trusted by A
    assert on_b.get("/auth/me", headers=_bearer(second)).status_code == 200

    out = _cli(env, "users", "disable", address.upper(), "--reason", "fraud review")
    assert first["user"]["id"] in out
    _assert_blocked(on_a, on_b, address, [first, second], outbox, link)

    shown = json.loads(_cli(env, "users", "show", first["user"]["id"], "--json"))
    assert set(shown) == USER_FIELDS | {"sessions", "activity"}
    assert (shown["disabled"], shown["disabled_reason"], shown["sessions"]) == (True, "fraud review", [])
    assert shown["last_login_at"] is not None
    listed = json.loads(_cli(env, "users", "list", "--email-contains", address.split("@")[0], "--disabled", "--json"))
    assert [(row["id"], row["disabled"]) for row in listed] == [(first["user"]["id"], True)]
    assert all(set(row) == USER_FIELDS for row in listed)

    _cli(env, "users", "enable", address)
    _assert_enabled(on_a, on_b, address, [first, second])
    text = _cli(env, "users", "show", address)  # the text form: account, status, live sessions
    assert address in text
    assert "active" in text
    assert "1 live" in text


def test_cli_logout_ends_every_session_on_both_processes(
    pair: tuple[httpx.Client, httpx.Client], env: dict[str, str]
) -> None:
    on_a, on_b = pair
    address, first, second = _signed_up(on_a, on_b)
    assert "2 sessions" in _cli(env, "users", "logout", address)
    for tokens in (first, second):
        for client in (on_a, on_b):
            refused = client.get("/auth/me", headers=_bearer(tokens))
            assert _code(refused, 401) == "token_revoked"
            assert refused.json().get("reason") in (None, "admin_logout")
    assert _login(on_a, address).status_code == 200


def test_cli_show_lists_the_activity_as_the_feed_does(
    pair: tuple[httpx.Client, httpx.Client], env: dict[str, str]
) -> None:
    on_a, on_b = pair
    address, first, second = _signed_up(on_a, on_b)
    _cli(env, "users", "disable", address)
    _cli(env, "users", "enable", address)
    third = _login(on_a, address)
    assert third.status_code == 200, third.text
    assert "1 session" in _cli(env, "users", "logout", address)
    reader = _login(on_b, address)
    assert reader.status_code == 200, reader.text
    page = on_a.get("/auth/activity", headers=_bearer(reader.json()))
    assert page.status_code == 200, page.text
    feed = page.json()["items"]

    shown = json.loads(_cli(env, "users", "show", address, "--json"))
    assert shown["activity"] == feed  # the same items, newest first, in the same shape
    kinds = [item["type"] for item in feed]
    assert kinds[:3] == ["login", "session_ended", "login"]  # the reader; the CLI logout of the third
    assert feed[1]["session_id"] == third.json()["session_id"]
    assert feed[1]["detail"] == {"reason": "admin_logout", "by": "admin"}
    assert kinds[3] == "account_enabled"
    disabling = feed[4:7]  # its own item and one per session it ended, written at one instant
    assert sorted(item["type"] for item in disabling) == ["account_disabled", "session_ended", "session_ended"]
    assert {item["session_id"] for item in disabling if item["type"] == "session_ended"} == {
        first["session_id"],
        second["session_id"],
    }
    assert kinds[7:] == ["login", "login"]  # the second session, registration

    text = _cli(env, "users", "show", address)
    assert "activity:       9 recent" in text
    assert "reason=admin_logout by=admin" in text
    assert "account_disabled" in text


def test_cli_refusals_are_one_error_line(env: dict[str, str]) -> None:
    # Each CLI run costs a Python start-up: a few representative refusals, not every one.
    for args in (
        ("users", "show", "nobody-at-all@example.com", "--json"),
        ("users", "disable", "00000000-0000-7000-8000-000000000000", "--reason", "x"),
    ):
        done = run_cli(list(args), env)
        assert done.returncode != 0, args
        assert done.stdout == ""
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: "), done.stderr


def test_admin_routes_across_two_processes(pair: tuple[httpx.Client, httpx.Client], env: dict[str, str]) -> None:
    on_a, on_b = pair
    made = _cli(env, "api-keys", "create", "--name", "console", "--scope", "admin", "--json")
    admin = {"X-API-Key": json.loads(made)["key"]}
    api = {"X-API-Key": json.loads(_cli(env, "api-keys", "create", "--name", "recs", "--json"))["key"]}
    scopes = {row["name"]: row["scope"] for row in json.loads(_cli(env, "api-keys", "list", "--json"))}
    assert (scopes["console"], scopes["recs"]) == ("admin", "api")

    outbox = Path(env["MUSICEZ_MAIL_OUTBOX"])
    address, first, second = _signed_up(on_a, on_b)
    target = f"/admin/users/{first['user']['id']}"
    link = _reset_link(outbox, on_b, address)
    for headers in (api, _bearer(first)):
        assert _code(on_a.post(f"{target}/disable", headers=headers), 403) == "insufficient_scope"
    assert _code(on_a.post(f"{target}/disable"), 401) == "missing_credentials"
    assert on_a.get("/auth/me", headers=_bearer(first)).status_code == 200  # nothing happened

    assert on_a.post(f"{target}/disable", json={"reason": "chargeback"}, headers=admin).status_code == 204
    _assert_blocked(on_a, on_b, address, [first, second], outbox, link)
    shown = on_b.get(target, headers=admin).json()
    assert (shown["disabled"], shown["disabled_reason"], shown["sessions"]) == (True, "chargeback", [])

    assert on_b.post(f"{target}/enable", headers=admin).status_code == 204
    _assert_enabled(on_a, on_b, address, [first, second])
    third = _login(on_a, address).json()
    assert on_b.post(f"{target}/logout", headers=admin).status_code == 204
    assert _code(on_a.get("/auth/me", headers=_bearer(third)), 401) == "token_revoked"
