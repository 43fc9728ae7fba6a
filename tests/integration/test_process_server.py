"""`musicez serve` as a real process: the flows over HTTP, start-up rules, SIGTERM."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import ServerProcess, clean_env, port_open, run_cli, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(process_env: dict[str, str], process_dir: Path) -> Iterator[ServerProcess]:
    with running_server(process_env, process_dir) as started:
        yield started


def test_register_login_me_over_http_against_postgres_and_redis(server: ServerProcess) -> None:
    email = unique_email("proc")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        registered = http.post("/auth/register", json={"email": f"  {email.upper()} ", "password": STRONG_PASSWORD})
        assert registered.status_code == 201, registered.text
        assert registered.headers["cache-control"] == "no-store"
        assert registered.json()["user"]["email"] == email.upper()  # v1.1: shown as given, trimmed

        login = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD, "device_name": "cli"})
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 900
        assert tokens["session_id"] != registered.json()["session_id"]

        me = http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["kind"] == "user"
        assert body["user"]["email"] == email.upper()
        assert body["user"]["id"] == registered.json()["user"]["id"]
        assert body["session"]["id"] == tokens["session_id"]
        assert me.headers["x-request-id"]

        ready = http.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok"}


def test_an_oversize_body_is_413_and_the_client_can_go_on(server: ServerProcess) -> None:
    """The 413 is sent before the body is read, so the connection cannot carry another request:
    the answer says `Connection: close`, and a client that keeps its connections alive (httpx,
    requests, browsers) opens a new one for its next request instead of failing on a dead one
    (without it, whether the server closed the connection depended on how much it had read)."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for size in [20_000, 50_000, 70_000, 200_000, 2_000_000] * 4:
            body = b'{"email": "' + b"a" * size + b'", "password": "x"}'
            response = http.post("/auth/login", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "payload_too_large"
            assert response.headers.get("connection") == "close", (size, response.headers)
            assert http.get("/health/live").status_code == 200


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 50\r\n\r\n" + b'{"a":1}',  # less than declared
        b"Transfer-Encoding: chunked\r\n\r\n7\r\n" + b'{"a":1}\r\n',  # no last chunk
    ],
    ids=["content-length", "chunked"],
)
def test_a_body_cut_short_by_the_client_is_a_400(server: ServerProcess, head: bytes) -> None:
    """The client sends part of its body and half-closes: a 400 problem document on the same
    connection (it can still read), not a 500 (granian hands the app `http.disconnect`)."""
    request = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = _read_response(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400 "), answer
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower(), answer
    problem = json.loads(body)
    assert problem["code"] == "validation_error", problem
    assert problem["detail"] == "The request body ended before its declared length"
    assert "Traceback" not in server.log()


def test_serve_with_no_settings_runs_on_embedded_defaults(tmp_path: Path) -> None:
    """No MUSICEZ_ variable at all: SQLite in the data dir, the in-process session store."""
    server = ServerProcess(clean_env(), tmp_path)
    started = time.monotonic()
    server.start(timeout=10)
    try:
        assert time.monotonic() - started < 10
        with httpx.Client(base_url=server.url, timeout=10) as http:
            registered = http.post("/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})
            assert registered.status_code == 201, registered.text
            me = http.get("/auth/me", headers={"Authorization": f"Bearer {registered.json()['access_token']}"})
            assert me.status_code == 200, me.text
            assert http.get("/health/ready").status_code == 200
    finally:
        code = server.stop()
    assert code == 0, server.log()[-3000:]
    assert (tmp_path / ".musicez" / "musicez.db").exists()
    log = server.log()
    assert "MUSICEZ_REDIS_URL" in log  # says at start-up that sessions live in this process only
    assert "Traceback" not in log


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    stderr = done.stderr.strip()
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_serve_with_workers_needs_redis(tmp_path: Path) -> None:
    done = run_cli(["serve", "--port", "1", "--workers", "2"], clean_env(data_dir=tmp_path), cwd=tmp_path, timeout=30)
    assert done.returncode != 0
    line = _one_line_error(done)
    assert "MUSICEZ_REDIS_URL" in line
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_production_refuses_to_start_on_development_defaults(tmp_path: Path) -> None:
    done = run_cli(["serve", "--port", "1"], clean_env(env="production"), cwd=tmp_path, timeout=30)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "MUSICEZ_ENV=production" in done.stderr
    for variable in ("MUSICEZ_DATABASE_URL", "MUSICEZ_REDIS_URL", "MUSICEZ_SECRET_KEY", "MUSICEZ_JWT_SIGNING_KEY"):
        assert variable in done.stderr
    assert not (tmp_path / ".musicez").exists()  # refused before touching anything


def _read_response(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_in_flight_request_finishes_on_sigterm(process_env: dict[str, str], tmp_path: Path) -> None:
    """SIGTERM while a request is half-received: no new connections, but that request
    completes with its real answer and the process then exits cleanly."""
    server = ServerProcess(process_env, tmp_path).start()
    try:
        email = unique_email("sigterm")
        body = json.dumps({"email": email, "password": STRONG_PASSWORD}).encode()
        head = (
            f"POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-ID: inflight-{uuid.uuid4().hex[:8]}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head + body[:10])
            time.sleep(0.5)  # the server has the headers: the request is in flight
            server.terminate()
            deadline = time.monotonic() + 10
            while port_open(server.port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not port_open(server.port), "still accepting new connections after SIGTERM"
            assert server.process is not None
            assert server.process.poll() is None
            sock.sendall(body[10:])
            response = _read_response(sock)
        status_line = response.split(b"\r\n", 1)[0]
        assert status_line == b"HTTP/1.1 201 Created", response[:500]
        assert email.encode() in response
        assert server.wait() == 0, server.log()[-3000:]
    finally:
        server.kill()
