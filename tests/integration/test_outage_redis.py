"""A real server process on a redis-server of the test's own: stop Redis, and guarded routes,
refresh and readiness answer 503 quickly; start it again on the same port, and the same
process serves again by itself."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from musicez.domain.ids import SessionId, UserId
from tests.support import processes
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import RedisServer, ServerProcess, running_server

pytestmark = pytest.mark.slow

OUTAGE_BOUND = 2.0  # API contract: 503 within 2 s
# Guard caches are trusted while the fence's last ping came back less than MUSICEZ_FENCE_LEASE_MS
# (50 ms) ago; no revocation can complete meanwhile, so serving from them is still strict.
FENCE_LEASE = 0.2
RECOVERY_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def redis_server(process_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(process_dir / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(process_env: dict[str, str], process_dir: Path, redis_server: RedisServer) -> Iterator[ServerProcess]:
    env = {**process_env, "MUSICEZ_REDIS_URL": redis_server.url}
    with running_server(env, process_dir / "on-own-redis") as started:
        yield started


def _timed(call: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, elapsed: float, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), what
    assert response.json()["code"] == "service_unavailable", what
    assert elapsed < OUTAGE_BOUND, f"{what} took {elapsed:.2f} s"


def _wait_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while time.monotonic() < deadline:
        if http.get("/health/ready").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready {RECOVERY_TIMEOUT} s after Redis came back")


def test_redis_outage_gives_503_and_recovers_without_restart(server: ServerProcess, redis_server: RedisServer) -> None:
    email = unique_email("redis-outage")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        tokens = http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/auth/me", headers=auth).status_code == 200
        pid = server.process.pid if server.process else None

        redis_server.stop()
        time.sleep(FENCE_LEASE)
        try:
            for attempt in range(3):  # every call, not just the first after the drop
                me, elapsed = _timed(http.get, "/auth/me", headers=auth)
                _assert_unavailable(me, elapsed, f"/auth/me #{attempt}")
                sessions, elapsed = _timed(http.get, "/auth/sessions", headers=auth)
                _assert_unavailable(sessions, elapsed, f"/auth/sessions #{attempt}")
                refreshed, elapsed = _timed(http.post, "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                _assert_unavailable(refreshed, elapsed, f"/auth/refresh #{attempt}")
            login, elapsed = _timed(http.post, "/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            _assert_unavailable(login, elapsed, "/auth/login")
            # Refused before its use case for its own reason: still that answer, though nothing
            # could count it against the per-client limit (refused_early.py)
            malformed, elapsed = _timed(http.post, "/auth/register", json={"email": 5})
            assert malformed.status_code == 400, malformed.text
            assert malformed.json()["code"] == "validation_error"
            assert "ratelimit-remaining" not in malformed.headers
            assert elapsed < OUTAGE_BOUND + 1.0
            ready, elapsed = _timed(http.get, "/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"status": "unavailable"}
            assert elapsed < OUTAGE_BOUND + 1.0  # the readiness probe's own bound
            assert http.get("/health/live").status_code == 200  # the process itself is fine
        finally:
            redis_server.start()

        _wait_ready(http)
        assert server.process is not None
        assert server.process.pid == pid
        assert server.process.poll() is None
        # A non-persistent Redis came back empty: the old session is gone, never served as valid.
        me = http.get("/auth/me", headers=auth)
        assert me.status_code == 401, me.text
        assert me.json()["code"] == "token_revoked"
        stale = http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert stale.status_code == 401, stale.text
        assert stale.json()["code"] == "invalid_refresh_token"

        login = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 200, login.text
        fresh = login.json()
        assert http.get("/auth/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200
        rotated = http.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
    assert "Traceback" not in server.log()


def test_frozen_redis_gives_503_within_bound_and_recovers(server: ServerProcess, redis_server: RedisServer) -> None:
    """A Redis that accepts nothing and answers nothing (SIGSTOP) must not hang requests."""
    email = unique_email("redis-frozen")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        _wait_ready(http)
        tokens = http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/auth/me", headers=auth).status_code == 200

        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        time.sleep(FENCE_LEASE)  # within the fence's lease a process may still trust its cache (docs/PRODUCTION.md)
        try:
            for attempt in range(2):
                me, elapsed = _timed(http.get, "/auth/me", headers=auth)
                _assert_unavailable(me, elapsed, f"/auth/me #{attempt}")
                refreshed, elapsed = _timed(http.post, "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                _assert_unavailable(refreshed, elapsed, f"/auth/refresh #{attempt}")
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)

        _wait_ready(http)
        # Redis kept its data this time: the session lives on, and serves again.
        me = http.get("/auth/me", headers=auth)
        assert me.status_code == 200, me.text
        rotated = http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200, rotated.text


def test_an_outage_is_logged_once_each_way_and_health_reports_it(
    server: ServerProcess, redis_server: RedisServer, process_env: dict[str, str]
) -> None:
    created = processes.run_cli(["api-keys", "create", "--name", "health-probe", "--json"], process_env)
    assert created.returncode == 0, created.stderr
    key = {"X-API-Key": json.loads(created.stdout)["key"]}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        _wait_ready(http)
        assert http.get("/health", headers=key).status_code == 200
        lost_before = server.log().count("redis unavailable")
        back_before = server.log().count("redis is back")
        redis_server.stop()
        time.sleep(FENCE_LEASE)
        try:
            for _ in range(5):  # an API key may spend its leased quota (and its row is in Postgres)
                assert http.get("/auth/me", headers=key).status_code in (200, 503)
            report = http.get("/health", headers=key)
            assert report.status_code == 503, report.text
            body = report.json()  # the per-dependency document, not the rate limiter's problem
            assert body["status"] == "unavailable"
            assert body["dependencies"]["session_store"]["status"] == "unavailable"
            assert body["dependencies"]["database"]["status"] == "ok"
            assert http.get("/health").status_code == 401  # still not for anonymous clients
        finally:
            redis_server.start()
        _wait_ready(http)
        assert http.get("/health", headers=key).status_code == 200
    log = server.log()
    assert log.count("redis unavailable") == lost_before + 1, log[-3000:]
    assert log.count("redis is back") == back_before + 1, log[-3000:]


async def test_a_redis_that_accepts_and_never_answers_is_an_outage_within_the_deadline() -> None:
    """The kernel completes connections to a listening socket nobody reads (as to a stopped Redis):
    every operation of the store, reconnections and its retry included, ends within the deadline."""
    import asyncio
    import socket
    import uuid

    from musicez.adapters.redis.client import OPERATION_DEADLINE, connect
    from musicez.adapters.redis.session_store import RedisSessionStore
    from musicez.domain.errors import ServiceUnavailable

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        client = connect(f"redis://127.0.0.1:{port}/0")
        store = RedisSessionStore(client, "silent")
        try:
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(ServiceUnavailable):
                    await store.get(UserId(uuid.uuid4()), SessionId(uuid.uuid4()))
                assert time.monotonic() - started < OPERATION_DEADLINE + 0.3
            assert OPERATION_DEADLINE + 0.3 < OUTAGE_BOUND
        finally:
            await asyncio.wait_for(client.aclose(), 2)
