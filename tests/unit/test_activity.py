"""Security activity from the security events, the security mails and not-me, on fakes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.application.activity import (
    ACTIVITY_EVENTS,
    ActivityJournal,
    ActivityRecorder,
    BackgroundWork,
    activity_for,
    flush_request,
    start_request,
)
from musicez.domain import events as event_classes
from musicez.domain.activity import ActivityCursor, ActivityType
from musicez.domain.errors import InvalidSecurityToken, RateLimited, ServiceUnavailable, ValidationFailed
from musicez.domain.events import AccountEnabled, SecurityEvent
from musicez.domain.principal import UserPrincipal
from musicez.domain.rate_limit import RateLimit
from musicez.entrypoints.http.routes.activity import CURSOR_PATTERN, decode_cursor, encode_cursor
from tests.support.accounts import STRONG_PASSWORD
from tests.support.activity_fakes import FakeActivityLog
from tests.support.fakes import FakeClock, FakeEvents, FakeSecrets
from tests.support.world import UNIT_SETTINGS, MakeWorld, World

SECURITY_URL = UNIT_SETTINGS["security_url"]


class Wired:
    """A world whose events go through the production activity recorder: the feed, the security
    mails and not-me, as `ActivityProvider` wires them over the fakes."""

    def __init__(self, world: World) -> None:
        assert isinstance(world.event_sink, ActivityRecorder)
        self.world = world
        self.log = world.fakes.activity
        self.links = world.fakes.links
        self.inner = world.events  # the plain sink under the recorder
        self.background = world.background
        self.recorder = world.event_sink

    async def settle(self) -> None:
        for _ in range(3):
            await self.background.drain()
            await asyncio.sleep(0)

    def types(self) -> list[str]:
        return [i.type for i in sorted(self.log.items.values(), key=lambda i: (i.at, i.id.bytes))]


async def open_wired(make_world: MakeWorld, **settings: Any) -> Wired:
    return Wired(await make_world(activity=True, not_me_failure_limit=RateLimit(3, "minute"), **settings))


@pytest.fixture
async def wired(make_world: MakeWorld) -> Wired:
    return await open_wired(make_world)


def principal(grant: Any) -> UserPrincipal:
    return UserPrincipal(grant.user_id, grant.session.id, grant.access.expires_at)


async def test_items_of_a_request_wait_for_its_flush(wired: Wired) -> None:
    async def handle() -> Any:
        buffer = start_request()
        grant = await wired.world.sign_up(device="Phone")
        assert wired.log.items == {}  # nothing written before the response starts
        await flush_request(buffer)
        await flush_request(buffer)
        return grant

    grant = await asyncio.create_task(handle())
    (item,) = wired.log.items.values()

    async def after_the_response() -> None:  # a task of the request, recording after its flush
        buffer = start_request()
        await flush_request(buffer)
        wired.recorder.record(AccountEnabled(user_id=str(grant.user_id), by="cli"))

    await asyncio.create_task(after_the_response())
    await wired.settle()
    assert sorted(wired.types()) == ["account_enabled", "login"]
    assert "account_enabled" in wired.inner.names
    assert (item.type, item.session_id, item.device_name, item.new_device) == ("login", grant.session.id, "Phone", True)
    await wired.settle()
    assert wired.world.mailer.sent == []  # registration: no "new sign-in" mail


async def test_a_login_from_a_new_device_mails_a_single_use_not_me_link(wired: Wired) -> None:
    from musicez.application.accounts import Credentials

    grant = await wired.world.sign_up(device="Phone")
    login = await wired.world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", "Laptop"))
    await wired.world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", "Phone"))
    await wired.settle()
    (mail,) = wired.world.mailer.sent
    assert mail.to == grant.email
    assert mail.subject == "New sign-in to your MusicEZ account"
    assert "Laptop" in mail.body
    token = mail.body.split(f"{SECURITY_URL}?token=", 1)[1].split()[0]
    not_me = wired.world.report_not_me
    await not_me.execute(token, "10.0.0.9")
    assert await wired.world.sessions.get(login.user_id, login.session.id) is None
    with pytest.raises(InvalidSecurityToken):
        await not_me.execute(token, "10.0.0.9")
    await wired.settle()
    ended = [i for i in wired.log.items.values() if i.type == "session_ended"]
    assert [(i.session_id, i.detail, i.device_name) for i in ended] == [
        (login.session.id, {"reason": "not_me"}, "Laptop")
    ]
    for _ in range(2):
        with pytest.raises(InvalidSecurityToken):
            await not_me.execute("A" * 43, "10.0.0.9")
    with pytest.raises(RateLimited):  # the address spent its budget: refused before any lookup
        await not_me.execute(token, "10.0.0.9")


async def test_security_mails_stop_at_the_per_address_limit_of_their_kind(make_world: MakeWorld) -> None:
    """Someone who guessed the password signs in from new devices until the quota of "new sign-in"
    mails is spent, then changes the password: the owner is still told of the change."""
    from musicez.application.accounts import Credentials

    wired = await open_wired(make_world, security_mail_rate_limit=RateLimit(2, "hour"))
    world = wired.world
    grant = await world.sign_up()
    for device in ("A", "B", "C", "D"):
        await world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", device))
    await wired.settle()
    assert len(world.mailer.sent) == 2
    assert "security_mail_suppressed" in wired.inner.names
    assert wired.types().count("login") == 5
    assert [m.subject for m in world.mailer.sent] == ["New sign-in to your MusicEZ account"] * 2
    await world.change_password.execute(principal(grant), STRONG_PASSWORD, "Another-Long-Secret-77")
    await wired.settle()
    changed = [m for m in world.mailer.sent if m.subject == "Your MusicEZ password was changed"]
    assert len(changed) == 1


async def test_password_change_writes_its_items_and_mails(wired: Wired) -> None:
    from musicez.application.accounts import Credentials

    grant = await wired.world.sign_up(device="Phone")
    other = await wired.world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", "Laptop"))
    await wired.settle()
    wired.world.mailer.sent.clear()
    await wired.world.change_password.execute(principal(grant), STRONG_PASSWORD, "Another-Long-Secret-77")
    await wired.settle()
    assert sorted(wired.types()) == ["login", "login", "password_changed", "session_ended"]
    ended = next(i for i in wired.log.items.values() if i.type == "session_ended")
    assert (ended.session_id, ended.device_name, ended.detail) == (
        other.session.id,
        "Laptop",
        {"reason": "password_changed"},
    )
    assert [m.subject for m in wired.world.mailer.sent] == ["Your MusicEZ password was changed"]


def _ended(wired: Wired) -> dict[Any, tuple[str | None, dict[str, str]]]:
    """The session_ended items by session: (device name, detail)."""
    return {i.session_id: (i.device_name, i.detail) for i in wired.log.items.values() if i.type == "session_ended"}


async def test_disabling_ends_each_session_in_the_feed(wired: Wired) -> None:
    from musicez.application.accounts import Credentials
    from musicez.application.admin import Actor

    grant = await wired.world.sign_up(device="Phone")
    other = await wired.world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", "Laptop"))
    await wired.settle()
    await wired.world.disable_user.execute(grant.user_id, Actor("key-1", "mez_0123"), "chargeback")
    await wired.settle()
    assert sorted(wired.types()) == ["account_disabled", "login", "login", "session_ended", "session_ended"]
    disabled = next(i for i in wired.log.items.values() if i.type == "account_disabled")
    assert (disabled.session_id, disabled.detail) == (None, {"by": "admin"})
    assert _ended(wired) == {
        grant.session.id: ("Phone", {"reason": "account_disabled", "by": "admin"}),
        other.session.id: ("Laptop", {"reason": "account_disabled", "by": "admin"}),
    }


async def test_an_admin_logout_ends_each_session_in_the_feed_and_none_when_none_lived(wired: Wired) -> None:
    from musicez.application.accounts import Credentials
    from musicez.application.admin import CLI_ACTOR

    grant = await wired.world.sign_up(device="Phone")
    devices = ["Laptop", "Tablet", "Watch", "TV"]
    others = [
        await wired.world.login.execute(Credentials(grant.email, STRONG_PASSWORD, "10.0.0.2", d)) for d in devices
    ]
    await wired.settle()
    assert await wired.world.force_logout.execute(grant.user_id, CLI_ACTOR) == 5
    await wired.settle()
    admin = {"reason": "admin_logout", "by": "admin"}
    assert _ended(wired) == {
        grant.session.id: ("Phone", admin),
        **{o.session.id: (d, admin) for o, d in zip(others, devices, strict=True)},
    }
    assert wired.types().count("session_ended") == 5
    assert await wired.world.force_logout.execute(grant.user_id, CLI_ACTOR) == 0  # nothing live: nothing ended
    await wired.settle()
    assert wired.types().count("session_ended") == 5
    assert "admin_logout" in wired.inner.names  # still a security event in the logs


def test_events_without_a_user_mean_no_activity() -> None:
    for event in ("throttled", "refresh_rejected", "password_reset_requested"):
        assert activity_for(event, {}, _now(), uuid.uuid4) == []
    assert (
        activity_for("login_failed", {"user_id": str(uuid.uuid4()), "reason": "password_changed"}, _now(), uuid.uuid4)
        == []
    )
    assert activity_for("unknown_event", {"user_id": str(uuid.uuid4())}, _now(), uuid.uuid4) == []


def test_an_unknown_emails_failed_login_means_a_stand_in_item_of_nobody() -> None:
    """Written like a known account's (the same statement), kept by no store: no user has its id."""
    ids = iter([uuid.UUID(int=1), uuid.UUID(int=2)])

    (stand_in,) = activity_for("login_failed", {}, _now(), lambda: next(ids))

    assert stand_in.item.type == ActivityType.LOGIN_FAILED
    assert (stand_in.item.id, stand_in.item.user_id) == (uuid.UUID(int=1), uuid.UUID(int=2))
    assert stand_in.notify is None


@given(
    st.sampled_from(["account_disabled", "account_enabled", "admin_logout", "sessions_revoked", "session_revoked"]),
    st.text(max_size=40),
    st.lists(st.uuids(), max_size=3),
)
def test_admin_events_never_show_who_did_it(event: str, by: str, sessions: list[uuid.UUID]) -> None:
    fields: dict[str, object] = {
        "user_id": str(uuid.uuid4()),
        "by": by,
        "reason": "admin_logout",
        "session_ids": [str(s) for s in sessions],
    }
    for pending in activity_for(event, fields, _now(), uuid.uuid4):
        assert pending.item.detail.get("by") == "admin"
        assert set(pending.item.detail) <= {"by", "reason"}
        assert pending.item.detail.get("reason") in {None, "admin_logout", "account_disabled"}


@given(st.datetimes(timezones=st.just(__import__("datetime").UTC)).filter(lambda d: d.year >= 1970), st.uuids())
def test_cursors_round_trip(at: Any, item_id: uuid.UUID) -> None:
    cursor = ActivityCursor(at, item_id)
    assert decode_cursor(encode_cursor(cursor)) == cursor


@given(st.one_of(st.text(max_size=80), st.from_regex(CURSOR_PATTERN, fullmatch=True)))
def test_a_cursor_of_the_declared_shape_is_accepted_any_other_refused(text: str) -> None:
    try:
        decode_cursor(text)
    except ValidationFailed:
        assert not CURSOR_PATTERN.fullmatch(text)
    else:
        assert CURSOR_PATTERN.fullmatch(text)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --- work after the response is bounded ------------------------------------------------------


async def test_background_work_past_its_limit_is_dropped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    import inspect
    import warnings

    from musicez.application import activity

    work = activity.BackgroundWork(limit=3)
    release = asyncio.Event()
    finished: list[int] = []

    async def slow(n: int) -> None:
        await release.wait()
        finished.append(n)

    assert all(work.spawn(slow(n)) for n in range(3))
    dropped = [slow(n) for n in range(3, 203)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped coroutine is closed, never left "never awaited"
        with caplog.at_level("WARNING", logger="musicez.activity"):
            assert not any(work.spawn(coroutine) for coroutine in dropped)
    assert len(work.tasks) == 3  # the process keeps no more than the limit
    assert work.dropped == 200
    assert all(inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED for coroutine in dropped)
    assert [r.getMessage() for r in caplog.records] == [
        "background work dropped: 3 tasks already running (1 dropped so far)"
    ]  # a flood of drops makes one line a minute, not one a drop

    release.set()
    await work.drain(1)
    assert sorted(finished) == [0, 1, 2]
    assert not work.tasks
    assert work.spawn(slow(7))  # room again once the running work is done
    await work.drain(1)
    assert finished[-1] == 7

    caplog.clear()
    assert work._last_warning is not None  # noqa: SLF001 - when it last said so
    work._last_warning -= activity.WARN_EVERY_SECONDS  # noqa: SLF001 - a minute later: one more line
    for _ in range(3):
        work.spawn(slow(8))
    assert work.spawn(slow(9)) is False
    assert len(caplog.records) == 1
    release.set()
    await work.drain(1)


def _event_names() -> set[str]:
    found, todo = set(), [SecurityEvent]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__ == event_classes.__name__:
                found.add(sub.name)
    return found


@pytest.mark.parametrize("name", sorted(_event_names()))
def test_the_recorder_skips_only_events_that_are_no_activity(name: str) -> None:
    """The recorder reads no fields of an event outside ACTIVITY_EVENTS: whatever such an event
    carries, it makes no item."""
    user, session = str(uuid.uuid4()), str(uuid.uuid4())
    shapes: list[dict[str, object]] = [
        {"user_id": user},
        {"user_id": user, "session_id": session, "device_name": "Laptop"},
        {"user_id": user, "session_id": session, "session_ids": [session], "reason": "logout_all"},
        {"user_id": user, "session_id": session, "reason": "logout", "by_delete": True},
        {},
    ]
    makes_items = any(activity_for(name, shape, _now(), uuid.uuid4) for shape in shapes)
    assert makes_items == (name in ACTIVITY_EVENTS), name


def test_every_activity_event_is_an_event() -> None:
    assert _event_names() >= ACTIVITY_EVENTS


# --- a database outage loses no activity -------------------------------------------------------


class _FlakyJournal:
    """The journal, failing as a database outage does while `down` says so."""

    def __init__(self, journal: ActivityJournal) -> None:
        self.journal = journal
        self.down = False
        self.calls = 0

    async def write(self, items: list[Any]) -> list[Any]:
        self.calls += 1
        if self.down:
            raise ServiceUnavailable()
        return await self.journal.write(items)


class _SmallRecorder(ActivityRecorder):
    MAX_UNWRITTEN = 6


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=30))
def test_items_the_database_did_not_take_are_written_with_the_next_once_and_bounded(
    schedule: list[tuple[bool, int]],
) -> None:
    """Each step records one event making `n` items while the database is down or up; a last
    write with it up follows. Every item is stored exactly once, unless the backlog overflowed:
    then the oldest are the ones missing, and no more were kept than the bound."""

    async def run() -> None:
        log = FakeActivityLog()
        flaky = _FlakyJournal(ActivityJournal(log))
        clock = FakeClock(_now())
        background = BackgroundWork()
        recorder = _SmallRecorder(FakeEvents(), flaky, clock=clock, secrets=FakeSecrets(), background=background)  # type: ignore[arg-type]
        user = str(uuid.uuid4())
        made: list[uuid.UUID] = []
        for down, n in [*schedule, (False, 1)]:
            flaky.down = down
            sessions = [str(uuid.uuid4()) for _ in range(n)]
            fields: dict[str, object] = {"user_id": user, "session_ids": sessions, "reason": "logout_all"}
            pending = activity_for("sessions_revoked", fields, clock.now(), uuid.uuid4)
            made += [p.item.id for p in pending]
            await recorder.write(pending)
            assert len(recorder._unwritten) <= _SmallRecorder.MAX_UNWRITTEN  # noqa: SLF001 - the bound
        stored = [item_id for item_id in made if item_id in log.items]
        assert len(log.items) == len(stored)  # nothing stored twice, nothing that was not made
        missing = [item_id for item_id in made if item_id not in log.items]
        # a model of the bound: what an outage keeps, and how many it has to drop (the oldest)
        kept = dropped = 0
        for down, n in schedule:
            if down:
                dropped += max(0, kept + n - _SmallRecorder.MAX_UNWRITTEN)
                kept = min(kept + n, _SmallRecorder.MAX_UNWRITTEN)
            else:
                kept = 0
        assert len(missing) == dropped == recorder._dropped  # noqa: SLF001
        assert recorder._unwritten == []  # noqa: SLF001 - the last write took them all

    asyncio.run(run())


async def test_an_error_that_is_no_outage_is_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(_FlakyJournal):
        async def write(self, items: list[Any]) -> list[Any]:
            raise ValueError("a bug, not an outage")

    recorder = ActivityRecorder(
        FakeEvents(),
        Broken(ActivityJournal(FakeActivityLog())),  # type: ignore[arg-type]
        clock=FakeClock(_now()),
        secrets=FakeSecrets(),
        background=BackgroundWork(),
    )
    user, session = str(uuid.uuid4()), str(uuid.uuid4())
    fields: dict[str, object] = {"user_id": user, "session_ids": [session], "reason": "logout_all"}
    with caplog.at_level("WARNING", logger="musicez.activity"):
        await recorder.write(activity_for("sessions_revoked", fields, _now(), uuid.uuid4))
    assert recorder._unwritten == []  # noqa: SLF001 - writing them again would fail the same way
    assert [r.getMessage() for r in caplog.records] == ["could not record security activity: ValueError"]
