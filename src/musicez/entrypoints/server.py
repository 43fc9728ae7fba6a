"""Running the ASGI app on a production server: granian.

Chosen by measurement (bench/README.md, issue 2 item 9): on `GET /health/live` with two
workers granian served 17-20k requests/s against uvicorn's (uvloop + httptools) 12-17k,
with a lower p50, on the same machine in the same run.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from granian.server import Server
from litestar import Litestar

from musicez.entrypoints.logs import third_party_level
from musicez.entrypoints.settings import Settings

APP = "musicez.entrypoints.http.asgi:create"
GRACEFUL_SHUTDOWN_SECONDS = 20


def _granian_logging() -> dict[str, Any]:
    """Granian's own loggers hand their records to the root logger, which
    `configure_logging` set up (JSON lines in production); no access log."""
    return {
        "loggers": {
            "_granian": {"handlers": [], "propagate": True},
            "granian.access": {"handlers": [], "propagate": True},
        }
    }


def _worker_app(settings: Settings) -> Litestar:
    """In each worker: the app, on the settings `musicez serve` read, checked and migrated for
    (forked workers inherit them; spawned ones get them pickled), so no worker reads the
    environment again or migrates."""
    from musicez.entrypoints.http.asgi import create  # in the worker only

    return create(settings)


def run_server(settings: Settings) -> None:
    Server(
        APP,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=settings.workers,
        loop=Loops.uvloop,
        log_enabled=True,
        log_level=LogLevels(logging.getLevelName(third_party_level(settings)).lower()),
        log_dictconfig=_granian_logging(),
        log_access=False,
        # client addresses come from MUSICEZ_TRUSTED_PROXIES only; granian reads no proxy headers
        workers_kill_timeout=GRACEFUL_SHUTDOWN_SECONDS,
        respawn_failed_workers=True,
    ).serve(target_loader=partial(_worker_app, settings), wrap_loader=False)
