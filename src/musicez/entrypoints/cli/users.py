"""`musicez users`: account administration (v1.1, issue 14)."""

from __future__ import annotations

import json
import logging
from typing import Any

import click

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
from musicez.domain.session import Session
from musicez.domain.user import User
from musicez.entrypoints.cli.common import CONTEXT, run, when


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email.value,
        "created_at": when(user.created_at),
        "disabled": user.disabled,
        "disabled_reason": user.disabled_reason,
        "last_login_at": when(user.last_login_at),
    }


def _session_row(session: Session) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "device_name": session.device_name,
        "created_at": when(session.created_at),
        "last_used_at": when(session.last_used_at),
        "expires_at": when(session.refresh_expires_at),
    }


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "-")) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row[c] if row[c] is not None else "-").ljust(widths[c]) for c in columns).rstrip())


@click.group(context_settings=CONTEXT)
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

    rows = [_user_row(u) for u in run(work)]
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

    details = run(work)
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
        since = when(details.user.disabled_at) or "-"
        state += f" since {since}" + (f" ({details.user.disabled_reason})" if details.user.disabled_reason else "")
    click.echo(f"{'status:':<16}{state}")
    if not sessions:
        click.echo("sessions:       none live")
        return
    click.echo(f"sessions:       {len(sessions)} live")
    _table(sessions, ["id", "device_name", "created_at", "last_used_at", "expires_at"])


def _act(use_case: type[Any], *args: Any) -> Any:
    """Run one account use case (`execute(*args)`) in a request scope; errors as one line."""

    async def work(scope: Any) -> Any:
        return await (await scope.get(use_case)).execute(*args)

    return run(work)


@users.command("disable")
@click.argument("email_or_id")
@click.option("--reason", default=None, help="Why (shown to operators, never to the user).")
def disable_user(email_or_id: str, reason: str | None) -> None:
    """Disable an account: every session ends at once; login and reset links stop working."""

    user: User = _act(DisableUser, email_or_id, CLI_ACTOR, reason)
    click.echo(f"disabled {user.id} ({user.email.value}); every session ended")


@users.command("enable")
@click.argument("email_or_id")
def enable_user(email_or_id: str) -> None:
    """Lift the block; sessions that ended stay ended."""

    user: User = _act(EnableUser, email_or_id, CLI_ACTOR)
    click.echo(f"enabled {user.id} ({user.email.value})")


@users.command("logout")
@click.argument("email_or_id")
def logout_user(email_or_id: str) -> None:
    """End every session of the user at once."""

    count: int = _act(ForceLogout, email_or_id, CLI_ACTOR)
    click.echo(f"ended {count} session{'' if count == 1 else 's'} of {email_or_id.strip()[:254]}")
