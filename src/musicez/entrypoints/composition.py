"""What the HTTP app needs from the adapters beyond the container, handed over as plain
functions: `musicez.entrypoints.http` imports no adapter (an import-linter contract), so it
gets each one from here or through a port in the container."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dishka import AsyncContainer
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.events import ClientIds
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.adapters.sql.database import expected_revision, is_outage, outage_detail
from musicez.adapters.sql.migrate import current_revision, upgrade
from musicez.entrypoints.key_loading import server_secret
from musicez.entrypoints.settings import Settings

log = logging.getLogger("musicez")


def describe_outage(error: BaseException) -> str | None:
    """What a dependency outage that no adapter translated into `ServiceUnavailable` says (None:
    not one), for the HTTP layer's last-resort handler and the CLI's one-line errors. The one
    place outside the adapters that knows the drivers' errors. (No outage in the outage and
    process tests reaches the HTTP handler; the CLI's migrations run on the engine directly.)"""
    return outage_detail(error) if is_outage(error) else None


def client_ids(settings: Settings) -> Callable[[str], str]:
    """The keyed, day-scoped client id of an address (the access log's `client_id`)."""
    return ClientIds(HmacHasher(server_secret(settings.keys))).of


async def prepare_schema(container: AsyncContainer, migrate: bool) -> None:
    """At start-up: migrate (`MUSICEZ_MIGRATE_AT_STARTUP`), or say once if the schema is behind."""
    engine = await container.get(AsyncEngine)
    if migrate:
        await upgrade(engine)
    else:
        await _say_if_schema_outdated(engine)


async def _say_if_schema_outdated(engine: AsyncEngine) -> None:
    """Once, at start-up: requests would answer 503 until an operator migrates."""
    try:
        current = await current_revision(engine)
    except Exception as error:  # unreachable now: readiness and requests report it
        log.warning("could not read the database schema revision: %s", type(error).__name__)
        return
    expected = expected_revision()
    if current != expected:
        log.error(
            "The database schema is at revision %s but this version needs %s: run `musicez db upgrade`. "
            "Until then /health/ready and every request that needs the database answer 503.",
            current or "none (empty database)",
            expected,
        )
