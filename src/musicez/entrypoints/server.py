"""Running the ASGI app on a production server."""

from __future__ import annotations

import uvicorn

from musicez.entrypoints.settings import Settings

APP = "musicez.entrypoints.http.asgi:create"


def run_server(settings: Settings) -> None:
    uvicorn.run(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # client addresses come from MUSICEZ_TRUSTED_PROXIES only
        server_header=False,
        timeout_graceful_shutdown=20,
        loop="uvloop",
        http="httptools",
    )
