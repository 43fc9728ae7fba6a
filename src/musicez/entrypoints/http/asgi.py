"""The ASGI entry for servers: `musicez.entrypoints.http.asgi:create` (a factory)."""

from __future__ import annotations

from litestar import Litestar

from musicez.entrypoints.http.app import create_app


def create() -> Litestar:
    return create_app()
