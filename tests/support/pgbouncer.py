"""A PgBouncer of our own, in transaction mode, in front of a Postgres server: the documented
production set-up (docs/PRODUCTION.md), started on a free loopback port for the tests.

Skips only where the `pgbouncer` binary is absent (Debian: `apt-get install pgbouncer`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.processes import free_port

START_TIMEOUT = 15.0


def _config(directory: Path, port: int, host: str, server_port: int, user: str) -> str:
    return f"""\
[databases]
* = host={host} port={server_port} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 400
default_pool_size = 8
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
"""


@contextlib.contextmanager
def running_pgbouncer(server_url: str) -> Iterator[int]:
    """PgBouncer (transaction pooling) in front of the server of `server_url`; yields its port."""
    binary = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    target = make_url(server_url)
    directory = Path(tempfile.mkdtemp(prefix="mez-pgbouncer-"))
    port = free_port()
    config = directory / "pgbouncer.ini"
    config.write_text(
        _config(directory, port, target.host or "127.0.0.1", target.port or 5432, target.username or "postgres")
    )
    as_user: list[str] = []
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start pgbouncer")
        shutil.chown(directory, "postgres")
        as_user = [runuser, "-u", "postgres", "--"]
    process = subprocess.Popen(
        [*as_user, binary, str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                log = directory / "pgbouncer.log"
                raise RuntimeError(f"pgbouncer exited with {process.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not listen in time")
            time.sleep(0.05)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # runuser and pgbouncer: its own process group
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        shutil.rmtree(directory, ignore_errors=True)


def through_pgbouncer(database_url: str, port: int) -> str:
    """The same database, reached through PgBouncer."""
    return make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
