"""A throwaway 3-master Redis Cluster on loopback ports, for the contract tests.

`redis_cluster_url` starts three `redis-server` processes in a temp dir, joins them with
`redis-cli --cluster create`, waits for `cluster_state:ok` and yields a
`redis+cluster://127.0.0.1:PORT` URL. It skips only when `redis-server` is not installed;
any other failure fails the tests that use it.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MASTERS = 3
CLUSTER_BUS_OFFSET = 10000
START_TIMEOUT = 20.0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports free both for clients and for their cluster bus (port + 10000)."""
    chosen: list[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(20000, 50000)
        if port in chosen or any(abs(port - c) == CLUSTER_BUS_OFFSET for c in chosen):
            continue
        if _port_free(port) and _port_free(port + CLUSTER_BUS_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free loopback ports for a Redis Cluster")


def _cli(redis_cli: str, port: int, *args: str) -> str:
    done = subprocess.run(
        [redis_cli, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout + done.stderr


def _wait(predicate: object, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"Redis Cluster: timed out waiting for {what}")


@contextlib.contextmanager
def running_cluster(masters: int = MASTERS) -> Iterator[str]:
    redis_server = shutil.which("redis-server")
    redis_cli = shutil.which("redis-cli")
    if redis_server is None or redis_cli is None:
        raise FileNotFoundError("redis-server / redis-cli")
    ports = _free_ports(masters)
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="mez-cluster-") as tmp:
        try:
            for port in ports:
                node_dir = Path(tmp) / str(port)
                node_dir.mkdir()
                processes.append(
                    subprocess.Popen(
                        [
                            redis_server,
                            "--port",
                            str(port),
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            str(node_dir),
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            "nodes.conf",
                            "--cluster-node-timeout",
                            "5000",
                            "--appendonly",
                            "no",
                            "--save",
                            "",
                            "--logfile",
                            str(node_dir / "redis.log"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port in ports:
                _wait(lambda p=port: "PONG" in _cli(redis_cli, p, "ping"), f"node {port} to start")
            created = subprocess.run(
                [
                    redis_cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
            for port in ports:
                _wait(
                    lambda p=port: "cluster_state:ok" in _cli(redis_cli, p, "cluster", "info"),
                    f"cluster_state:ok on {port}",
                )
            yield f"redis+cluster://127.0.0.1:{ports[0]}"
        finally:
            for process in processes:
                process.kill()
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: cannot start a local Redis Cluster")
    with running_cluster() as url:
        yield url
