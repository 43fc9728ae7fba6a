"""The ASGI entry for servers: `musicez.entrypoints.http.asgi:create` (a factory)."""

from __future__ import annotations

import gc

from litestar import Litestar

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.settings import Settings


def create(settings: Settings | None = None) -> Litestar:
    """`settings`: those `musicez serve` read and checked (else read from the environment)."""
    app = create_app(settings=settings)
    # What exists now (modules, the app, its routes and schemas) lives as long as the worker:
    # out of the collector's sight, each collection only walks what requests allocated.
    # Measured on /health/live (granian, 1 worker, wrk, three rounds): 80-105 -> 68-93 µs of
    # CPU per request (bench/README.md, "The ceiling").
    gc.collect()
    gc.freeze()
    return app
