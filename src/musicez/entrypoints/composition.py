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
from musicez.adapters.sql.database import check_schema, is_outage, outage_detail
from musicez.adapters.sql.migrate import upgrade
from musicez.domain.errors import ServiceUnavailable
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
    """At start-up: migrate (`MUSICEZ_MIGRATE_AT_STARTUP`), or check the schema, so that one behind
    (or a database out of reach) is logged once now and the gauge reads 0 before the first probe."""
    engine = await container.get(AsyncEngine)
    if migrate:
        await upgrade(engine)
        return
    try:
        await check_schema(engine)
    except ServiceUnavailable:
        pass  # logged as the database's outage; readiness and requests answer 503 until it ends
    except Exception as error:  # not an outage: readiness reports it, start-up goes on
        log.warning("could not read the database schema revision: %s", type(error).__name__)
