"""Without Redis, the CLI ends sessions held in a server's memory through a file in the data
directory (adapters/memory/host_revocations.py). Two stores on one file stand for the server and
the CLI; the property: once the CLI's `revoke_all` returns, the server answers nothing about a
session of that user opened before it, and keeps every session opened after it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.adapters.memory.host_revocations import HostRevocations, HostSessionViews, HostSharedSessionStore
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.domain.ids import SessionId, UserId
from musicez.domain.session import EndReason, Session
from tests.support.fakes import FakeClock, FakeEvents
from tests.unit.test_memory_session_store import a_session

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _session(user_id: UserId, now: datetime = NOW) -> Session:
    return a_session(now, user_id, lifetime=7 * 86400)


def _store(path: Path, clock: FakeClock, events: FakeEvents | None = None) -> HostSharedSessionStore:
    return HostSharedSessionStore(MemorySessionStore(clock), HostRevocations(path), events or FakeEvents(), clock)


def test_a_process_reads_only_the_others_lines_appended_after_it_started(tmp_path: Path) -> None:
    path = tmp_path / "revocations.log"
    user = UserId(uuid.uuid4())
    HostRevocations(path).publish(user, EndReason.ADMIN_LOGOUT)  # before the server started
    server, cli = HostRevocations(path), HostRevocations(path)
    assert not server.pending()
    assert server.take() == []

    cli.publish(user, EndReason.ACCOUNT_DISABLED)
    server.publish(user, EndReason.ADMIN_LOGOUT)  # its own line: not for itself
    assert server.pending()
    assert server.take() == [(user, EndReason.ACCOUNT_DISABLED, frozenset())]
    assert not server.pending()
    assert server.take() == []
    assert cli.take() == [(user, EndReason.ADMIN_LOGOUT, frozenset())]


def test_half_a_line_waits_for_the_rest_and_garbage_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "revocations.log"
    server = HostRevocations(path)
    user = UserId(uuid.uuid4())
    line = json.dumps({"o": "cli", "u": str(user), "r": EndReason.ADMIN_LOGOUT}) + "\n"
    with path.open("a") as file:
        file.write("not json\n")
        file.write(json.dumps({"o": "cli", "u": "not-a-uuid", "r": EndReason.ADMIN_LOGOUT}) + "\n")
        file.write(json.dumps({"o": "cli", "u": str(user), "r": EndReason.LOGOUT_ALL}) + "\n")  # not shared
        file.write(line[:20])
    assert server.take() == []
    with path.open("a") as file:
        file.write(line[20:])
    assert server.take() == [(user, EndReason.ADMIN_LOGOUT, frozenset())]


def test_a_replaced_file_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "revocations.log"
    server = HostRevocations(path)
    first, second = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    for _ in range(3):
        HostRevocations(path).publish(first, EndReason.ADMIN_LOGOUT)
    assert len(server.take()) == 3
    path.unlink()
    HostRevocations(path).publish(second, EndReason.ACCOUNT_DISABLED)
    assert server.take() == [(second, EndReason.ACCOUNT_DISABLED, frozenset())]


def test_the_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "revocations.log"
    HostRevocations(path).publish(UserId(uuid.uuid4()), EndReason.ADMIN_LOGOUT)
    assert path.stat().st_mode & 0o077 == 0


async def test_the_server_ends_what_the_cli_ended_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "revocations.log"
    clock = FakeClock(NOW)
    events = FakeEvents()
    server, cli = _store(path, clock, events), _store(path, clock)
    user, bystander = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    sessions = [_session(user), _session(user)]
    other = _session(bystander)
    for session in [*sessions, other]:
        await server.create(session, "mac")
    assert server.cached(user, sessions[0].id) is not None

    assert await cli.revoke_all(user, reason=EndReason.ACCOUNT_DISABLED) == 0  # the CLI holds none itself

    assert server.cached(user, sessions[0].id) is None  # not vouched for before catching up
    for session in sessions:
        assert await server.get(user, session.id) is None
        assert await server.ended_reason(user, session.id) == EndReason.ACCOUNT_DISABLED
    assert await server.get(bystander, other.id) is not None
    assert server.cached(bystander, other.id) is not None  # caught up: the fast path again
    assert events.recorded == [
        (
            "sessions_revoked",
            {
                "user_id": str(user),
                "count": 2,
                "reason": EndReason.ACCOUNT_DISABLED,
                "session_ids": [str(s.id) for s in sessions],
                "by": "cli",
            },
        )
    ]


async def test_a_user_s_own_endings_stay_in_the_server(tmp_path: Path) -> None:
    path = tmp_path / "revocations.log"
    clock = FakeClock(NOW)
    server = _store(path, clock)
    user = UserId(uuid.uuid4())
    kept, ended = _session(user), _session(user)
    await server.create(kept, "a")
    await server.create(ended, "b")
    assert await server.revoke_all(user, keep=kept.id) == 1
    assert await server.revoke_all(UserId(uuid.uuid4()), reason=EndReason.PASSWORD_CHANGED) == 0
    assert not path.exists()  # nothing another process must be told
    await server.revoke_all(user, reason=EndReason.ADMIN_LOGOUT)  # an admin route in the server
    assert path.exists()
    fresh = _session(user)
    await server.create(fresh, "c")  # the server does not take its own line back
    assert await server.get(user, fresh.id) is not None


Step = tuple[str, int]  # ("open" | "cli" | "check", which user)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "cli", "check"]), st.integers(0, 2)), max_size=40))
def test_strict_the_cli_s_ending_holds_on_the_very_next_call(
    tmp_path_factory: pytest.TempPathFactory, steps: list[Step]
) -> None:
    path = tmp_path_factory.mktemp("host") / "revocations.log"
    clock = FakeClock(NOW)
    users = [UserId(uuid.uuid4()) for _ in range(3)]

    async def run() -> None:
        server, cli = _store(path, clock), _store(path, clock)
        live: dict[SessionId, UserId] = {}
        ended: dict[SessionId, UserId] = {}
        for action, which in steps:
            user = users[which]
            if action == "open":
                session = _session(user, clock.now())
                await server.create(session, "mac")
                live[session.id] = user
            elif action == "cli":
                await cli.revoke_all(user, reason=EndReason.ADMIN_LOGOUT)
                for sid in [sid for sid, owner in live.items() if owner == user]:
                    ended[sid] = live.pop(sid)
            clock.advance(1)
            for sid, owner in live.items():  # every session opened after its user's last ending lives
                assert server.cached(owner, sid) is not None or await server.get(owner, sid) is not None
            for sid, owner in ended.items():  # every one opened before is refused, on either path
                assert server.cached(owner, sid) is None
                assert await server.get(owner, sid) is None

    asyncio.run(run())


def _shared(path: Path, clock: FakeClock, pid: int, events: FakeEvents | None = None) -> HostSharedSessionStore:
    views = HostSessionViews(path.parent / "sessions.d", pid=pid)
    return HostSharedSessionStore(
        MemorySessionStore(clock), HostRevocations(path), events or FakeEvents(), clock, views
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["open", "cli", "read", "logout", "wait"]), st.integers(0, 2)),
        max_size=40,
    )
)
def test_the_cli_sees_what_the_server_holds_and_each_ending_is_reported_once(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    """`users show` and `users logout` on the embedded defaults: the CLI (another process) lists
    exactly the live sessions the server holds, counts what it ends, and every ended session is
    one activity event, the CLI's or (for one it could not see) the server's, never both."""
    path = tmp_path_factory.mktemp("host") / "revocations.log"
    clock = FakeClock(NOW)
    users = [UserId(uuid.uuid4()) for _ in range(3)]

    async def run() -> None:
        events = FakeEvents()
        # two live processes: the server stands for the parent (alive), the CLI for this one
        server, cli = _shared(path, clock, os.getppid(), events), _shared(path, clock, os.getpid())
        live: dict[SessionId, UserId] = {}
        reported: list[str] = []
        for action, which in steps:
            user = users[which]
            mine = [sid for sid, owner in live.items() if owner == user]
            if action == "open":
                session = dataclasses.replace(_session(user, clock.now()), device_name=f"device {len(live)}")
                await server.create(session, "mac")
                live[session.id] = user
            elif action == "cli":
                seen = [s.id for s in await cli.list_for_user(user, clock.now())]
                assert sorted(map(str, seen)) == sorted(map(str, mine))
                assert await cli.revoke_all(user, reason=EndReason.ADMIN_LOGOUT) == len(mine)
                assert await cli.list_for_user(user, clock.now()) == []  # before the server has read the line
                reported += [str(sid) for sid in seen]
                for sid in mine:
                    del live[sid]
            elif action == "logout" and mine:
                assert await server.revoke(user, mine[0], EndReason.LOGOUT)
                del live[mine[0]]
            elif action == "read" and mine:
                await server.get(user, mine[0])
            elif action == "wait":
                clock.advance(8 * 86400)  # every session runs out
                live.clear()
            clock.advance(1)
            await server.get(user, SessionId(uuid.uuid4()))  # any call: the server catches up
            shown = {s.id: s for s in await cli.list_for_user(user, clock.now())}
            assert set(shown) == {sid for sid, owner in live.items() if owner == user}
            for session in await server.list_for_user(user, clock.now()):
                assert shown[session.id].device_name == session.device_name
                assert shown[session.id].refresh_expires_at == session.refresh_expires_at
        by_server = [fields for name, fields in events.recorded if name == "sessions_revoked"]
        assert by_server == []  # the CLI saw every session it ended
        assert len(reported) == len(set(reported))

    asyncio.run(run())


def test_the_views_are_private_and_a_dead_server_s_are_ignored_and_cleared(tmp_path: Path) -> None:
    root = tmp_path / "sessions.d"
    user = UserId(uuid.uuid4())
    session = _session(user)
    dead = 2**22 + 12345  # over Linux's pid_max default: no such process
    HostSessionViews(root, pid=dead).share(user, [session])
    assert HostSessionViews(root).read(user, NOW) == []  # a server that is gone holds nothing
    server = HostSessionViews(root, pid=os.getppid())
    server.share(user, [session])
    assert not (root / str(dead)).exists()  # cleared when a live server starts sharing
    assert [s.id for s in HostSessionViews(root).read(user, NOW)] == [session.id]
    assert root.stat().st_mode & 0o077 == 0
    for file in (root / str(os.getppid())).iterdir():
        assert file.stat().st_mode & 0o077 == 0
    server.share(user, [])
    assert HostSessionViews(root).read(user, NOW) == []
