"""`musicez users`: account administration (v1.1, issue 14)."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any

import click

from musicez.application.activity import ListActivity
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
from musicez.domain.activity import ActivityItem
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


ACTIVITY_PAGE = 50  # the newest items, as the first page of GET /auth/activity
ACTIVITY_SHOWN = 10  # of which the text form lists this many


def _activity_row(item: ActivityItem) -> dict[str, Any]:
    """An item as `GET /auth/activity` shows it."""
    return {
        "id": str(item.id),
        "type": item.type,
        "at": when(item.at.astimezone(UTC)),
        "session_id": None if item.session_id is None else str(item.session_id),
        "device_name": item.device_name,
        "new_device": item.new_device,
        "detail": dict(item.detail),
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
    """The account, why it is disabled, its live sessions, last login and recent activity."""

    async def work(scope: Any) -> tuple[UserDetails, list[ActivityItem]]:
        details: UserDetails = await (await scope.get(ShowUser)).execute(email_or_id)
        items, _ = await (await scope.get(ListActivity)).execute(details.user.id, ACTIVITY_PAGE, None)
        return details, items

    details, items = run(work)
    row = _user_row(details.user)
    sessions = [_session_row(s) for s in details.sessions]
    activity = [_activity_row(i) for i in items]  # newest first
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
    else:
        click.echo(f"sessions:       {len(sessions)} live")
        _table(sessions, ["id", "device_name", "created_at", "last_used_at", "expires_at"])
    if not activity:
        click.echo("activity:       none")
        return
    shown = activity[:ACTIVITY_SHOWN]
    more = f", the {len(shown)} newest shown (--json lists all {len(activity)})" if len(activity) > len(shown) else ""
    click.echo(f"activity:       {len(activity)} recent{more}")
    brief = [{**a, "detail": " ".join(f"{k}={v}" for k, v in a["detail"].items()) or None} for a in shown]
    _table(brief, ["at", "type", "device_name", "session_id", "detail"])


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
    who = email_or_id.strip()[:254]
    # Without Redis the server on this host holds them; it ends them on its next request
    # (host_revocations.py), and this count is what it shared it held.
    click.echo(f"ended {count} session{'' if count == 1 else 's'} of {who}")
