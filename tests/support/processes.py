"""Real processes for the tests: `musicez serve`, the `musicez` CLI, and throwaway
redis-server / Postgres instances that a test may stop and start again on the same port.

Everything here runs on loopback ports chosen at random and in temp dirs, and only ever
stops what it started itself: the machine's shared Postgres (5432) and Redis (6379) are
never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from musicez.adapters.security.keys import generate_private_pem

CLI = [sys.executable, "-m", "musicez.entrypoints.cli"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 25.0  # above the server's own graceful-shutdown bound (20 s)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.3):
        return True
    return False


def clean_env(values: Mapping[str, Any] | None = None, **musicez: Any) -> dict[str, str]:
    """This process's environment without any MUSICEZ_ variable, plus the given ones
    (`database_url="…"` becomes MUSICEZ_DATABASE_URL). None values are left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEZ_")}
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in {**(values or {}), **musicez}.items():
        if value is not None:
            env[f"MUSICEZ_{name.upper()}"] = str(value)
    return env


def write_signing_key(directory: Path) -> Path:
    """One EdDSA key file shared by several server processes, so each accepts the others' tokens."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jwt-signing-key.pem"
    path.write_text(generate_private_pem("EdDSA"))
    path.chmod(0o600)
    return path


def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


# -- the HTTP server -------------------------------------------------------------------------


class ServerProcess:
    """`musicez serve --port P` in its own process group, its output in a log file."""

    def __init__(self, env: Mapping[str, str], cwd: Path, port: int | None = None, args: Sequence[str] = ()) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.port = port or free_port()
        self.args = list(args)
        self.log_path = cwd / f"server-{self.port}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.terminated = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = START_TIMEOUT, wait: bool = True) -> ServerProcess:
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.terminated = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if wait:
            self.wait_live(timeout)
        return self

    def wait_live(self, timeout: float = START_TIMEOUT) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"musicez serve exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/live", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"musicez serve did not answer /health/live within {timeout} s:\n{self.log()[-4000:]}")

    def terminate(self) -> None:
        """SIGTERM: the server stops accepting, finishes what is in flight, then exits."""
        assert self.process is not None
        if not self.terminated:  # a second SIGTERM may legitimately mean "stop now"
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; the exit code (0 for a clean shutdown)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()  # once
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@contextlib.contextmanager
def running_servers(
    count: int, env: Mapping[str, str], cwd: Path, args: Sequence[str] = ()
) -> Iterator[list[ServerProcess]]:
    """`count` servers started side by side, stopped with SIGTERM afterwards; each must exit cleanly."""
    servers = [ServerProcess(env, cwd, args=args) for _ in range(count)]
    try:
        for server in servers:
            server.start(wait=False)
        for server in servers:
            server.wait_live()
        yield servers
    finally:
        codes = []
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.terminate()
        for server in servers:
            try:
                codes.append(server.stop() if server.process is not None else 0)
            finally:
                server.kill()
    for server, code in zip(servers, codes, strict=True):
        assert code == 0, f"musicez serve exited with {code} on SIGTERM:\n{server.log()[-4000:]}"


@contextlib.contextmanager
def running_server(env: Mapping[str, str], cwd: Path, args: Sequence[str] = ()) -> Iterator[ServerProcess]:
    """A started server, stopped with SIGTERM afterwards; it must exit cleanly."""
    with running_servers(1, env, cwd, args) as (server,):
        yield server


# -- a redis-server of our own ----------------------------------------------------------------


class RedisServer:
    """A non-persistent redis-server on a loopback port, restartable on the same port."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self._ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _ping(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


# -- a Postgres cluster of our own --------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """initdb + pg_ctl into a temp dir, trust auth, a loopback port; stop and start again at will.

    initdb refuses to run as root, so as root every command runs as the `postgres` user.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        bin_dir = _postgres_bin()
        if bin_dir is None:
            pytest.skip("Postgres server binaries (initdb, pg_ctl) are not installed")
        self.bin = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.port = port or free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start a private Postgres")
            self._as_user = [runuser, "-u", "postgres", "--"]

    @property
    def server_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=self.directory
        )
        if done.returncode != 0:
            log = self.directory / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}\n{done.stderr}\n{tail}")

    def init(self) -> PostgresServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.directory, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        return self

    def start(self) -> PostgresServer:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client at once, like a crashed or restarted database."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="mez-redis-") as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp_path: its parents are private to root, and Postgres runs as `postgres`.
    tmp = Path(tempfile.mkdtemp(prefix="mez-pg-"))
    server = PostgresServer(tmp)
    try:
        server.init().start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)


def service_env(
    *,
    database_url: str | None,
    redis_url: str | None,
    redis_prefix: str,
    secret_key: str,
    signing_key_file: Path,
    data_dir: Path,
    **extra: Any,
) -> dict[str, str]:
    """The environment of a server process (or CLI run) on the given Postgres and Redis.

    Processes given the same values share users, sessions, rate limits and signing keys."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "secret_key": secret_key,
        "jwt_signing_key_file": signing_key_file,
        "bcrypt_rounds": 4,
        "data_dir": data_dir,
        "log_format": "console",
    }
    values.update(extra)
    return clean_env(values)


@pytest.fixture(scope="module")
def process_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("processes")


@pytest.fixture(scope="module")
def process_env(
    database_url: str, redis_url: str, redis_prefix: str, secret_key: str, process_dir: Path
) -> dict[str, str]:
    """Server/CLI environment on the run's Postgres database and Redis, in a key space of this
    module's own; every process started with it shares users, sessions, limits and keys."""
    return service_env(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}:{uuid.uuid4().hex[:8]}",
        secret_key=secret_key,
        signing_key_file=write_signing_key(process_dir / "keys"),
        data_dir=process_dir / "data",
    )
