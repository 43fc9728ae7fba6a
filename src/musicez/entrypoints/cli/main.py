"""The `musicez` command: serve, db, api-keys, users, keys. A second transport over the same
use cases and the same container as HTTP."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez import __version__
from musicez.adapters.security.keys import generate_private_pem
from musicez.adapters.sql.migrate import current_revision, head_revision, history, upgrade
from musicez.entrypoints.cli.api_keys import api_keys
from musicez.entrypoints.cli.common import CONTEXT, USAGE, fail, load_settings, run
from musicez.entrypoints.cli.users import users
from musicez.entrypoints.logs import configure_logging


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="musicez", message="%(prog)s %(version)s")
def cli() -> None:
    """MusicEZ Auth: the authentication service in front of the MusicEZ API.

    Settings come from MUSICEZ_* variables (see the README). Exit status: 0 done, 1 the command
    could not do what was asked, 2 the command line or the settings are wrong.
    """


@cli.command()
@click.option("--host", default=None, help="Address to bind (default MUSICEZ_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default MUSICEZ_PORT or 8000).")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default MUSICEZ_WORKERS or 1)."
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the HTTP server."""
    given: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    settings = load_settings(**{k: v for k, v in given.items() if v is not None})
    if settings.workers > 1 and not settings.redis_url:
        fail(
            "--workers > 1 needs MUSICEZ_REDIS_URL: the in-process session store would split "
            "sessions and rate limits between workers",
            USAGE,
        )
    from musicez.entrypoints.preflight import preflight

    configure_logging(settings)
    problems = preflight(settings)
    if problems:
        fail("\n".join(problems), USAGE)
    if settings.migrate_at_startup:  # once, here, before any worker starts
        settings = msgspec.structs.replace(settings, auto_migrate=False)  # what the workers get
        run(_upgrade_database, settings)
    from musicez.entrypoints.metrics_dir import prepare_metrics_dir
    from musicez.entrypoints.server import run_server

    directory = prepare_metrics_dir(settings.workers)
    if directory is not None:  # the workers get these settings, not the environment: tell them
        settings = msgspec.structs.replace(settings, prometheus_multiproc_dir=str(directory))
    run_server(settings)


@cli.group(context_settings=CONTEXT)
def db() -> None:
    """Database maintenance: migrations."""
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _upgrade_database(scope: Any) -> tuple[str | None, str | None]:
    """Apply the pending migrations; the revision before and after."""
    return await upgrade(await scope.get(AsyncEngine))


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = load_settings(database_only=True, auto_migrate=False)
    before, after = run(_upgrade_database, settings)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"upgraded the database from {before or 'an empty schema'} to revision {after}")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the one this version needs."""
    settings = load_settings(database_only=True, auto_migrate=False)

    async def work(scope: Any) -> str | None:
        return await current_revision(await scope.get(AsyncEngine))

    current = run(work, settings)
    head = head_revision()
    if current == head:
        click.echo(f"{current} (head: up to date)")
    else:
        click.echo(f"{current or 'none (empty database)'} (this version needs {head}: run `musicez db upgrade`)")


@db.command("history")
def db_history() -> None:
    """List the migrations this version ships, oldest first."""
    for migration in history():
        title = migration.title.strip().splitlines()[0] if migration.title.strip() else ""
        click.echo(f"{migration.revision}  {title}")


@cli.group(context_settings=CONTEXT)
def keys() -> None:
    """Signing keys for access tokens."""


@keys.command("generate")
@click.option("--algorithm", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True)
def generate_key(algorithm: str) -> None:
    """Print a new PEM private key for MUSICEZ_JWT_SIGNING_KEY(_FILE)."""
    click.echo(generate_private_pem(algorithm), nl=False)


cli.add_command(api_keys)
cli.add_command(users)


def main() -> None:
    """Errors of the command line in the same one-line style as every other error, exit 2."""
    try:
        code = cli.main(prog_name="musicez", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted")
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        fail(exc.format_message() + hint, USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    else:
        sys.exit(code if isinstance(code, int) else 0)
