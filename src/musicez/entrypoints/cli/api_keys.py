"""`musicez api-keys`: admin-managed API keys for service-to-service clients."""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

import click

from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.domain.duration import InvalidDuration, parse_duration
from musicez.domain.rate_limit import InvalidRateLimit, RateLimit
from musicez.entrypoints.cli.common import CONTEXT, USAGE, fail, load_settings, run, when


@click.group("api-keys", context_settings=CONTEXT)
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
        fail(str(exc), USAGE)
        return

    async def work(scope: Any) -> Any:
        return await (await scope.get(CreateApiKey)).execute(name, limit, lifetime, scope=key_scope)

    created = run(work, load_settings(database_only=True))
    key = created.key
    if as_json:
        click.echo(
            json.dumps({"id": str(key.id), "name": key.name, "key": created.secret, "expires_at": when(key.expires_at)})
        )
        return
    click.echo(f"Created API key {key.id} ({key.name}, scope {key.scope})")
    click.echo(f"  rate limit: {key.rate_limit or 'default'}   expires: {when(key.expires_at) or 'never'}")
    click.echo("Store this key now; it will not be shown again:")
    click.echo(created.secret)


@api_keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_keys(as_json: bool) -> None:
    """List keys (never the keys themselves)."""

    async def work(scope: Any) -> Any:
        return await (await scope.get(ListApiKeys)).execute()

    keys = run(work, load_settings(database_only=True))
    rows = [
        {
            "id": str(k.id),
            "name": k.name,
            "prefix": k.prefix,
            "rate_limit": str(k.rate_limit) if k.rate_limit else None,
            "created_at": when(k.created_at),
            "last_used_at": when(k.last_used_at),
            "expires_at": when(k.expires_at),
            "revoked_at": when(k.revoked_at),
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
        fail(f"not an API key id: {key_id[:64]!r}", USAGE)
        return

    async def work(scope: Any) -> bool:
        return bool(await (await scope.get(RevokeApiKey)).execute(parsed))

    settings = load_settings(database_only=True, needs_redis=True)
    if run(work, settings):
        click.echo(f"revoked {parsed}")
    elif settings.redis_url:  # the repeat after a revocation the servers could not be told of
        click.echo(f"{parsed} was already revoked; the running servers were told again")
    else:
        click.echo(f"{parsed} was already revoked; nothing changed")
