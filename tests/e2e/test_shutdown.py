"""Graceful shutdown: SIGTERM while a slow request is in flight lets it finish, then the
process exits 0 with its pools closed cleanly."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import pytest

from tests.support.server import StartServer

PASSWORD = "Correct-Horse-Battery-9"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_an_in_flight_login_finish(start_server: StartServer, workers: int) -> None:
    # bcrypt cost 12: a login takes a few hundred milliseconds, long enough to be caught in flight.
    server = start_server(MUSICEZ_BCRYPT_ROUNDS="12", MUSICEZ_WORKERS=str(workers))
    email = f"shutdown-{uuid.uuid4().hex[:10]}@example.com"
    created = httpx.post(f"{server.url}/auth/register", json={"email": email, "password": PASSWORD}, timeout=30)
    assert created.status_code == 201, created.text

    outcome: dict[str, object] = {}

    def slow_login() -> None:
        try:
            response = httpx.post(f"{server.url}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
            outcome["response"] = response
        except httpx.HTTPError as error:
            outcome["error"] = error
        outcome["finished"] = time.monotonic()

    client = threading.Thread(target=slow_login)
    client.start()
    time.sleep(0.1)  # the request is on the wire and hashing
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    client.join(timeout=30)
    exit_code = server.process.wait(timeout=30)

    assert "error" not in outcome, f"the in-flight request failed: {outcome.get('error')!r}\n{server.logs()[-3000:]}"
    response = outcome["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]
    finished = outcome["finished"]
    assert isinstance(finished, float)
    assert finished > signalled  # it really was in flight when the signal came
    assert exit_code == 0, server.logs()[-3000:]
    logs = server.logs()
    assert "Traceback" not in logs
    assert '"level": "error"' not in logs, logs[-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health/live", timeout=2)
