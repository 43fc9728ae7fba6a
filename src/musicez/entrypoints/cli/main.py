"""The `musicez` command: serve, db, api-keys, keys. A second transport over the same
use cases and the same container as HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import click
import msgspec
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from musicez import __version__
from musicez.adapters.postgres.migrate import current_revision, head_revision, history, upgrade
from musicez.adapters.security.keys import generate_private_pem
from musicez.application.admin import (
    CLI_ACTOR,
    PAGE_MAX,
    DisableUser,
    EnableUser,
    ForceLogout,
    ListUsers,
    ShowUser,
    UserDetails,
)
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.domain.duration import InvalidDuration, parse_duration
from musicez.domain.errors import AuthError
from musicez.domain.rate_limit import InvalidRateLimit, RateLimit
from musicez.domain.session import Session
from musicez.domain.user import User
from musicez.entrypoints.composition import describe_outage
from musicez.entrypoints.container import build_container
from musicez.entrypoints.logs import configure_logging
from musicez.entrypoints.settings import Settings, SettingsError

T = TypeVar("T")


USAGE = 2  # the command line or the settings are wrong: nothing was done
FAILED = 1  # the command ran and could not do what was asked (unknown id, outage, ...)


def _fail(message: str, code: int = FAILED) -> None:
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}" if not line.startswith("error: ") else line, err=True)
    sys.exit(code)


def _settings(*, database_only: bool = False, needs_redis: bool = False, **overrides: Any) -> Settings:
    """`database_only`: the command needs the database (and the server secret), not mail or signing
    keys; `needs_redis`: it ends sessions or tells running servers, so production needs Redis."""
    try:
        settings = Settings.from_env(None, database_only=database_only, **overrides)
    except SettingsError as exc:
        _fail(str(exc), USAGE)
        raise  # unreachable
    if needs_redis and settings.is_production and not settings.redis_url:
        _fail("MUSICEZ_REDIS_URL must be set: this command ends sessions or tells the running servers", USAGE)
    return settings


def _say_which_database(settings: Settings) -> None:
    """An operator in the wrong directory must not silently get a throwaway database."""
    if settings.database_url:
        return
    path = (settings.data_path / "musicez.db").resolve()
    state = "" if path.exists() else " (new: it did not exist)"
    click.echo(f"note: no MUSICEZ_DATABASE_URL; using the development database {path}{state}", err=True)


def _run(work: Callable[[Any], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run one use case in a request scope of a fresh container, with errors as one line."""
    settings = settings or _settings(database_only=True, needs_redis=True)
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
        return asyncio.run(main())
    except (AuthError, SettingsError) as exc:
        _fail(str(exc))
    except Exception as exc:  # an operator gets one line, never a traceback
        outage = describe_outage(exc)
        if outage is not None:
            _fail(f"{outage}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
        _fail(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    raise AssertionError("unreachable")


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


CONTEXT = {"help_option_names": ["-h", "--help"]}


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
    settings = _settings(**{k: v for k, v in given.items() if v is not None})
    if settings.workers > 1 and not settings.redis_url:
        _fail(
            "--workers > 1 needs MUSICEZ_REDIS_URL: the in-process session store would split "
            "sessions and rate limits between workers",
            USAGE,
        )
    from musicez.entrypoints.preflight import preflight

    configure_logging(settings)
    problems = preflight(settings)
    if problems:
        _fail("\n".join(problems), USAGE)
    if settings.migrate_at_startup:  # once, here, before any worker starts
        _run(_upgrade_database, msgspec.structs.replace(settings, auto_migrate=False))
    os.environ["MUSICEZ_AUTO_MIGRATE"] = "false"  # the workers read their settings from the environment
    from musicez.entrypoints.metrics_dir import prepare_metrics_dir
    from musicez.entrypoints.server import run_server

    prepare_metrics_dir(settings.workers)
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
    settings = _settings(database_only=True, auto_migrate=False)
    before, after = _run(_upgrade_database, settings)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"upgraded the database from {before or 'an empty schema'} to revision {after}")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the one this version needs."""
    settings = _settings(database_only=True, auto_migrate=False)

    async def work(scope: Any) -> str | None:
        return await current_revision(await scope.get(AsyncEngine))

    current = _run(work, settings)
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


@cli.group("api-keys", context_settings=CONTEXT)
def api_keys() -> None:
    """Admin-managed API keys for service-to-service clients."""
    # An operator's command answers in one line or one JSON document, without migration chatter.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@api_keys.command("create")
@click.option("--name", required=True, help="Who the key is for, e.g. 'recommendations-backend'.")
@click.option("--rate-limit", "rate_limit", default=None, help="N/second, N/minute, N/hour or N/day.")
@click.option("--expires-in", "expires_in", default=None, help="30m, 12h, 90d or a number of seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--scope",
    type=click.Choice(["api", "admin"]),
    default="api",
    show_default=True,
    help="api: every guarded route; admin: also the admin routes.",
)
def create_key(name: str, rate_limit: str | None, expires_in: str | None, as_json: bool, scope: str) -> None:
    """Create a key. It is printed once and never stored."""
    key_scope = scope
    try:
        limit = RateLimit.parse(rate_limit) if rate_limit is not None else None
        lifetime = parse_duration(expires_in) if expires_in is not None else None
    except (InvalidRateLimit, InvalidDuration) as exc:
        _fail(str(exc), USAGE)
        return

    async def work(scope: Any) -> Any:
        return await (await scope.get(CreateApiKey)).execute(name, limit, lifetime, scope=key_scope)

    created = _run(work, _settings(database_only=True))
    key = created.key
    if as_json:
        click.echo(
            json.dumps(
                {"id": str(key.id), "name": key.name, "key": created.secret, "expires_at": _when(key.expires_at)}
            )
        )
        return
    click.echo(f"Created API key {key.id} ({key.name}, scope {key.scope})")
    click.echo(f"  rate limit: {key.rate_limit or 'default'}   expires: {_when(key.expires_at) or 'never'}")
    click.echo("Store this key now; it will not be shown again:")
    click.echo(created.secret)


@api_keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_keys(as_json: bool) -> None:
    """List keys (never the keys themselves)."""

    async def work(scope: Any) -> Any:
        return await (await scope.get(ListApiKeys)).execute()

    keys = _run(work, _settings(database_only=True))
    rows = [
        {
            "id": str(k.id),
            "name": k.name,
            "prefix": k.prefix,
            "rate_limit": str(k.rate_limit) if k.rate_limit else None,
            "created_at": _when(k.created_at),
            "last_used_at": _when(k.last_used_at),
            "expires_at": _when(k.expires_at),
            "revoked_at": _when(k.revoked_at),
            "scope": k.scope,
        }
        for k in keys
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no API keys")
        return
    columns = ["id", "name", "prefix", "scope", "rate_limit", "created_at", "last_used_at", "expires_at", "revoked_at"]
    widths = {c: max(len(c), *(len(str(r[c] or "-")) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(str(row[c] or "-").ljust(widths[c]) for c in columns))


@api_keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke a key by id; it stops working at once."""
    try:
        parsed = UUID(key_id)
    except ValueError:
        _fail(f"not an API key id: {key_id[:64]!r}", USAGE)
        return

    async def work(scope: Any) -> bool:
        return bool(await (await scope.get(RevokeApiKey)).execute(parsed))

    if _run(work):
        click.echo(f"revoked {parsed}")
    else:
        click.echo(f"{parsed} was already revoked; nothing changed")


# -- account administration (v1.1, issue 14) -------------------------------------------------


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email.value,
        "created_at": _when(user.created_at),
        "disabled": user.disabled,
        "disabled_reason": user.disabled_reason,
        "last_login_at": _when(user.last_login_at),
    }


def _session_row(session: Session) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "device_name": session.device_name,
        "created_at": _when(session.created_at),
        "last_used_at": _when(session.last_used_at),
        "expires_at": _when(session.refresh_expires_at),
    }


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "-")) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row[c] if row[c] is not None else "-").ljust(widths[c]) for c in columns).rstrip())


@cli.group(context_settings=CONTEXT)
def users() -> None:
    """Accounts: list, show, disable, enable, force logout."""
    logging.getLogger("alembic").setLevel(logging.WARNING)


@users.command("list")
@click.option("--email-contains", "email_contains", default=None, help="Only emails containing TEXT.")
@click.option("--disabled", is_flag=True, help="Only disabled accounts.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_users(email_contains: str | None, disabled: bool, as_json: bool) -> None:
    """List accounts in creation order."""

    async def work(scope: Any) -> list[User]:
        use_case = await scope.get(ListUsers)
        found: list[User] = []
        cursor = None
        while True:
            page = await use_case.execute(
                email_contains=email_contains, disabled=True if disabled else None, limit=PAGE_MAX, cursor=cursor
            )
            found += page.items
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    rows = [_user_row(u) for u in _run(work)]
    if as_json:
        click.echo(json.dumps(rows))
    elif not rows:
        click.echo("no users")
    else:
        _table(rows, ["id", "email", "created_at", "disabled", "disabled_reason", "last_login_at"])


@users.command("show")
@click.argument("email_or_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show_user(email_or_id: str, as_json: bool) -> None:
    """The account, why it is disabled, its live sessions and last login."""

    async def work(scope: Any) -> UserDetails:
        details: UserDetails = await (await scope.get(ShowUser)).execute(email_or_id)
        return details

    details = _run(work)
    row = _user_row(details.user)
    sessions = [_session_row(s) for s in details.sessions]
    activity: list[dict[str, Any]] = []  # the user's security activity (filled by the activity feature)
    if as_json:
        click.echo(json.dumps({**row, "sessions": sessions, "activity": activity}))
        return
    for name in ("id", "email", "created_at", "last_login_at"):
        click.echo(f"{name + ':':<16}{row[name] or '-'}")
    state = "disabled" if details.user.disabled else "active"
    if details.user.disabled:
        since = _when(details.user.disabled_at) or "-"
        state += f" since {since}" + (f" ({details.user.disabled_reason})" if details.user.disabled_reason else "")
    click.echo(f"{'status:':<16}{state}")
    if not sessions:
        click.echo("sessions:       none live")
        return
    click.echo(f"sessions:       {len(sessions)} live")
    _table(sessions, ["id", "device_name", "created_at", "last_used_at", "expires_at"])


@users.command("disable")
@click.argument("email_or_id")
@click.option("--reason", default=None, help="Why (shown to operators, never to the user).")
def disable_user(email_or_id: str, reason: str | None) -> None:
    """Disable an account: every session ends at once; login and reset links stop working."""

    async def work(scope: Any) -> User:
        user: User = await (await scope.get(DisableUser)).execute(email_or_id, CLI_ACTOR, reason)
        return user

    user = _run(work)
    click.echo(f"disabled {user.id} ({user.email.value}); every session ended")


@users.command("enable")
@click.argument("email_or_id")
def enable_user(email_or_id: str) -> None:
    """Lift the block; sessions that ended stay ended."""

    async def work(scope: Any) -> User:
        user: User = await (await scope.get(EnableUser)).execute(email_or_id, CLI_ACTOR)
        return user

    user = _run(work)
    click.echo(f"enabled {user.id} ({user.email.value})")


@users.command("logout")
@click.argument("email_or_id")
def logout_user(email_or_id: str) -> None:
    """End every session of the user at once."""

    async def work(scope: Any) -> int:
        count: int = await (await scope.get(ForceLogout)).execute(email_or_id, CLI_ACTOR)
        return count

    count = _run(work)
    click.echo(f"ended {count} session{'' if count == 1 else 's'} of {email_or_id.strip()[:254]}")


@cli.group(context_settings=CONTEXT)
def keys() -> None:
    """Signing keys for access tokens."""


@keys.command("generate")
@click.option("--algorithm", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True)
def generate_key(algorithm: str) -> None:
    """Print a new PEM private key for MUSICEZ_JWT_SIGNING_KEY(_FILE)."""
    click.echo(generate_private_pem(algorithm), nl=False)


def main() -> None:
    """Errors of the command line in the same one-line style as every other error, exit 2."""
    try:
        code = cli.main(prog_name="musicez", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted")
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        _fail(exc.format_message() + hint, USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    else:
        sys.exit(code if isinstance(code, int) else 0)
