"""Two `musicez serve` processes sharing one Postgres database and one Redis: any request
may land on any process, so sessions, revocations and rate limits must hold across them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import run_cli, running_servers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(process_env: dict[str, str], process_dir: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with (
        running_servers(2, process_env, process_dir) as (a, b),
        httpx.Client(base_url=a.url, timeout=10) as on_a,
        httpx.Client(base_url=b.url, timeout=10) as on_b,
    ):
        yield on_a, on_b


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


def _create_key(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = run_cli(["api-keys", "create", *args, "--json"], env)
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def test_logout_on_one_process_is_seen_by_the_other_at_once(pair: tuple[httpx.Client, httpx.Client]) -> None:
    on_a, on_b = pair
    email = unique_email("pair")
    assert on_a.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).status_code == 201

    login = on_a.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    first = login.json()
    assert on_b.get("/auth/me", headers=_bearer(first["access_token"])).status_code == 200  # B trusts A's token

    refreshed = on_b.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    me = on_a.get("/auth/me", headers=_bearer(second["access_token"]))  # A trusts B's token
    assert me.status_code == 200, me.text
    assert me.json()["session"]["id"] == first["session_id"]

    assert on_a.post("/auth/logout", headers=_bearer(second["access_token"])).status_code == 204

    for token in (second["access_token"], first["access_token"]):
        refused = on_b.get("/auth/me", headers=_bearer(token))
        _problem(refused, 401, "token_revoked")
        assert refused.headers["www-authenticate"].startswith('Bearer realm="musicez", error="invalid_token"')
    _problem(on_b.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401, "invalid_refresh_token")


def test_logout_all_on_one_process_ends_sessions_opened_on_the_other(pair: tuple[httpx.Client, httpx.Client]) -> None:
    on_a, on_b = pair
    email = unique_email("pair-all")
    on_a.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).raise_for_status()
    on_a_session = on_a.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
    on_b_session = on_b.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()

    sessions = on_b.get("/auth/sessions", headers=_bearer(on_a_session["access_token"]))
    assert sessions.status_code == 200
    ids = {s["id"] for s in sessions.json()}
    assert {on_a_session["session_id"], on_b_session["session_id"]} <= ids

    assert on_b.post("/auth/logout-all", headers=_bearer(on_b_session["access_token"])).status_code == 204
    _problem(on_a.get("/auth/me", headers=_bearer(on_a_session["access_token"])), 401, "token_revoked")
    stale = on_a.post("/auth/refresh", json={"refresh_token": on_a_session["refresh_token"]})
    _problem(stale, 401, "invalid_refresh_token")


def test_api_key_rate_limit_holds_across_processes(
    pair: tuple[httpx.Client, httpx.Client], process_env: dict[str, str]
) -> None:
    on_a, on_b = pair
    created = _create_key(process_env, "--name", "limited", "--rate-limit", "5/minute")
    headers = {"X-API-Key": created["key"]}

    remaining = []
    for client in (on_a, on_b, on_a, on_b, on_a):
        ok = client.get("/auth/me", headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"kind": "api_key", "api_key": {"id": created["id"], "name": "limited"}}
        assert ok.headers["ratelimit-limit"] == "5"
        remaining.append(int(ok.headers["ratelimit-remaining"]))
    assert remaining == [4, 3, 2, 1, 0]

    sixth = on_b.get("/auth/me", headers=headers)
    _problem(sixth, 429, "rate_limited")
    retry_after = int(sixth.headers["retry-after"])
    assert 1 <= retry_after <= 60
    _problem(on_a.get("/auth/me", headers=headers), 429, "rate_limited")


def test_cli_key_create_use_revoke_is_refused_at_once(
    pair: tuple[httpx.Client, httpx.Client], process_env: dict[str, str]
) -> None:
    on_a, on_b = pair
    created = _create_key(process_env, "--name", "partner-backend")
    headers = {"X-API-Key": created["key"]}
    for client in (on_a, on_b):
        me = client.get("/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["api_key"] == {"id": created["id"], "name": "partner-backend"}
    assert on_a.get("/health", headers=headers).status_code == 200

    revoked = run_cli(["api-keys", "revoke", created["id"]], process_env)
    assert revoked.returncode == 0, revoked.stderr
    assert created["key"] not in revoked.stdout + revoked.stderr

    for client in (on_a, on_b):
        refused = client.get("/auth/me", headers=headers)
        _problem(refused, 401, "invalid_api_key")
        assert "www-authenticate" in refused.headers
        assert created["key"] not in refused.text


def test_an_expired_key_stops_working(pair: tuple[httpx.Client, httpx.Client], process_env: dict[str, str]) -> None:
    on_a, _ = pair
    created = _create_key(process_env, "--name", "short-lived", "--expires-in", "1")
    expires_at = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 1.1)  # printed to the second
    _problem(on_a.get("/auth/me", headers={"X-API-Key": created["key"]}), 401, "invalid_api_key")


async def _flood(ports: list[int], api_key: str, total: int, per_server: int = 8) -> dict[int, int]:
    """`total` keep-alive `GET /auth/me` requests spread over the servers; counts by status."""
    request = (
        f"GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {api_key}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    statuses: dict[int, int] = {}
    left = [total]

    async def connection(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection(port) for port in ports for _ in range(per_server)))
    return statuses


def test_a_high_key_limit_is_never_exceeded_across_processes(
    pair: tuple[httpx.Client, httpx.Client], process_env: dict[str, str]
) -> None:
    """10,000/minute: each process leases chunks of the budget and spends them locally, yet the
    two together accept at most 10,000 in the window (and, spending every unit, exactly that)."""
    created = _create_key(process_env, "--name", "busy", "--rate-limit", "10000/minute")
    ports = [client.base_url.port for client in pair]
    assert all(ports)
    started = time.monotonic()
    statuses = asyncio.run(_flood([p for p in ports if p], created["key"], total=10_600))
    elapsed = time.monotonic() - started
    assert elapsed < 55, f"the flood took {elapsed:.0f} s: the window may have ended during it"
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.get(200, 0) <= 10_000, statuses
    assert statuses.get(200, 0) >= 10_000 - 2 * 64, statuses  # at most a chunk per process unspent
    for client in pair:
        _problem(client.get("/auth/me", headers={"X-API-Key": created["key"]}), 429, "rate_limited")


def test_activity_written_on_one_process_is_read_on_the_other_at_once(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    on_a, on_b = pair
    email = unique_email("feed")
    registered = on_a.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    assert registered.status_code == 201
    for attempt in range(5):
        login = on_a.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD, "device_name": "Pair"})
        assert login.status_code == 200, login.text
        grant = login.json()
        feed = on_b.get("/auth/activity", headers=_bearer(grant["access_token"]))
        assert feed.status_code == 200, feed.text
        items = feed.json()["items"]
        assert len(items) == attempt + 2
        assert items[0]["session_id"] == grant["session_id"]
        assert items[0]["type"] == "login"
        assert items[0]["new_device"] is (attempt == 0)
