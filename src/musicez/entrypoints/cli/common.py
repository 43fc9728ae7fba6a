"""What every `musicez` command shares: settings, one use case run in a fresh container, and
errors as `error:` lines with exit status 1 or 2."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez.adapters.sql.migrate import upgrade
from musicez.domain.errors import ClientError
from musicez.entrypoints.composition import describe_outage
from musicez.entrypoints.container import build_container
from musicez.entrypoints.logs import configure_logging
from musicez.entrypoints.settings import Settings, SettingsError

T = TypeVar("T")


USAGE = 2  # the command line or the settings are wrong: nothing was done
FAILED = 1  # the command ran and could not do what was asked (unknown id, outage, ...)


def fail(message: str, code: int = FAILED) -> None:
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}" if not line.startswith("error: ") else line, err=True)
    sys.exit(code)


def load_settings(*, database_only: bool = False, needs_redis: bool = False, **overrides: Any) -> Settings:
    """`database_only`: the command needs the database (and the server secret), not mail or signing
    keys; `needs_redis`: it ends sessions or tells running servers, so production needs Redis."""
    try:
        settings = Settings.from_env(None, database_only=database_only, **overrides)
    except SettingsError as exc:
        fail(str(exc), USAGE)
        raise  # unreachable
    if needs_redis and settings.is_production and not settings.redis_url:
        fail("MUSICEZ_REDIS_URL must be set: this command ends sessions or tells the running servers", USAGE)
    return settings


def _say_which_database(settings: Settings) -> None:
    """An operator in the wrong directory must not silently get a throwaway database: a command
    that is about to create the development database says so. On one that exists it says
    nothing, so a refusal stays the one `error:` line on stderr (API.md)."""
    if settings.database_url:
        return
    path = (settings.data_path / "musicez.db").resolve()
    if not path.exists():
        click.echo(
            f"note: no MUSICEZ_DATABASE_URL; using the development database {path} (new: it did not exist)", err=True
        )


@contextmanager
def _no_server_outage_lines() -> Iterator[None]:
    """The `error:` line names an outage; the line the adapters log when a dependency is lost
    ("database unavailable (…): answering 503 until it is back") speaks for a server. Restored
    afterwards: `musicez serve` migrates through `run` before its workers start (and a forked
    worker inherits this process's loggers)."""
    dependencies = logging.getLogger("musicez.dependencies")
    was = dependencies.disabled
    dependencies.disabled = True
    try:
        yield
    finally:
        dependencies.disabled = was


def run(work: Callable[[Any], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run one use case in a request scope of a fresh container, with errors as one line."""
    settings = settings or load_settings(database_only=True, needs_redis=True)
    configure_logging(settings)
    _say_which_database(settings)

    async def main() -> T:
        container = build_container(settings, CollectorRegistry())
        try:
            if settings.migrate_at_startup:
                await upgrade(await container.get(AsyncEngine))
            async with container() as scope:
                return await work(scope)
        finally:
            await container.close()

    try:
        with _no_server_outage_lines():
            return asyncio.run(main())
    except (ClientError, SettingsError) as exc:
        fail(str(exc))
    except Exception as exc:  # an operator gets one line, never a traceback
        outage = describe_outage(exc)
        if outage is not None:
            fail(f"{outage}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
        fail(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    raise AssertionError("unreachable")


def when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


CONTEXT = {"help_option_names": ["-h", "--help"]}
