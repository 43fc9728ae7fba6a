"""A real `musicez serve` process on a free loopback port, on real Postgres and Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.server import MUSICEZ, START_TIMEOUT, Server, StartServer


@pytest.fixture
def start_server(
    database_url: str, redis_url: str, redis_prefix: str, secret_key: str, tmp_path: Path
) -> Iterator[StartServer]:
    """Start servers with `MUSICEZ_*` overrides; every one still running is stopped afterwards."""
    started: list[Server] = []

    def start(**env_overrides: str) -> Server:
        port = free_port()
        name = f"server-{len(started)}"
        outbox = tmp_path / name / "outbox"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEZ_")}
        env.update(
            MUSICEZ_DATABASE_URL=database_url,
            MUSICEZ_REDIS_URL=redis_url,
            MUSICEZ_REDIS_PREFIX=f"{redis_prefix}:{uuid.uuid4().hex[:8]}",
            MUSICEZ_SECRET_KEY=secret_key,
            MUSICEZ_BCRYPT_ROUNDS="4",
            MUSICEZ_DATA_DIR=str(tmp_path / name / "data"),
            MUSICEZ_MAIL_OUTBOX=str(outbox),
            MUSICEZ_LOG_FORMAT="json",
            MUSICEZ_HOST="127.0.0.1",
            MUSICEZ_PORT=str(port),
        )
        env.update(env_overrides)
        log_path = tmp_path / f"{name}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [str(MUSICEZ), "serve"], env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log_file.close()
        server = Server(f"http://127.0.0.1:{port}", port, process, log_path, outbox)
        started.append(server)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"musicez serve exited with {process.returncode}:\n{server.logs()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200:
                    return server
            time.sleep(0.1)
        pytest.fail(f"musicez serve did not become ready in {START_TIMEOUT} s:\n{server.logs()[-4000:]}")

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: StartServer) -> Server:
    return start_server()
