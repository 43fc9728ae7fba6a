"""A real server process on a Postgres of the test's own: stop Postgres under a little load,
and the routes that need it answer 503 within 2 s (never 500, never a hang); start it again
on the same port, and the same process recovers by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import PostgresServer, ServerProcess, private_postgres, running_server

pytestmark = pytest.mark.slow

OUTAGE_BOUND = 2.0  # API contract: 503 within 2 s
RECOVERY_TIMEOUT = 20.0
WORKERS = 3


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def server(process_env: dict[str, str], process_dir: Path, postgres: PostgresServer) -> Iterator[ServerProcess]:
    env = {
        **process_env,
        "MUSICEZ_DATABASE_URL": postgres.server_url,
        # The load below is one client address: keep the per-client limits out of the way.
        "MUSICEZ_LOGIN_CLIENT_RATE_LIMIT": "100000/minute",
        "MUSICEZ_LOGIN_RATE_LIMIT": "100000/minute",  # attempts are counted before the check
        "MUSICEZ_REGISTER_RATE_LIMIT": "100000/minute",
    }
    with running_server(env, process_dir / "on-own-postgres") as started:
        yield started


@dataclass
class Observed:
    """What the load saw: (phase, route, status, code, seconds) per request."""

    calls: list[tuple[str, str, int, str | None, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phase: str = "before"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, response: httpx.Response, seconds: float) -> None:
        code = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            code = response.json().get("code")
        with self.lock:
            self.calls.append((self.phase, route, response.status_code, code, seconds))


def _load(base_url: str, email: str, stop: threading.Event, seen: Observed) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        while not stop.is_set():
            for route, body in (
                ("/auth/login", {"email": email, "password": STRONG_PASSWORD}),
                ("/auth/register", {"email": unique_email("pg-load"), "password": STRONG_PASSWORD}),
            ):
                started = time.monotonic()
                try:
                    response = http.post(route, json=body)
                except httpx.HTTPError as error:  # a hang or a dropped connection is a failure too
                    seen.errors.append(f"{route}: {type(error).__name__} after {time.monotonic() - started:.2f} s")
                    continue
                seen.record(route, response, time.monotonic() - started)
            time.sleep(0.02)


def test_postgres_outage_under_load_gives_503_and_recovers(server: ServerProcess, postgres: PostgresServer) -> None:
    email = unique_email("pg-outage")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).status_code == 201
        pid = server.process.pid if server.process else None

        seen = Observed()
        stop = threading.Event()
        workers = [threading.Thread(target=_load, args=(server.url, email, stop, seen)) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.5)
            postgres.stop("fast")  # every connection dropped, new ones refused
            seen.phase = "during"
            time.sleep(1.0)  # in-flight requests settle; what follows is the outage proper
            seen.phase = "outage"
            time.sleep(1.0)
            ready = http.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json() == {"status": "unavailable"}
            assert http.get("/health/live").status_code == 200
            seen.phase = "restarting"
            postgres.start()
            seen.phase = "after"
            deadline = time.monotonic() + RECOVERY_TIMEOUT
            while time.monotonic() < deadline and http.get("/health/ready").status_code != 200:
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)

        assert not seen.errors, seen.errors
        for phase, route, status, code, seconds in seen.calls:
            assert status != 500, (phase, route, code)
            assert status in (200, 201, 503), (phase, route, status, code)
            if status == 503:
                assert code == "service_unavailable", (phase, route, code)
                assert seconds < OUTAGE_BOUND, f"{route} 503 after {seconds:.2f} s ({phase})"
        outage = [c for c in seen.calls if c[0] == "outage"]
        assert outage, "no request was made during the outage"
        assert {c[2] for c in outage} == {503}, outage
        assert {c[1] for c in outage} == {"/auth/login", "/auth/register"}
        assert [c for c in seen.calls if c[0] == "before" and c[2] != 503], "the load never succeeded before the outage"

        # Recovered by itself: the same process, new requests succeed.
        assert server.process is not None
        assert server.process.pid == pid
        assert server.process.poll() is None
        assert {c[2] for c in seen.calls if c[0] == "after"} & {200, 201}, "no success after Postgres came back"
        login = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 200, login.text
        registered = http.post("/auth/register", json={"email": unique_email("pg-after"), "password": STRONG_PASSWORD})
        assert registered.status_code == 201, registered.text
        assert http.get("/health/ready").status_code == 200
    assert "Traceback" not in server.log()
