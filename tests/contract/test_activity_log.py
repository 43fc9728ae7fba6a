"""The ActivityLog and SecurityLinkRepository contracts, on SQLite and on Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from musicez.adapters.sql.activity import SqlActivityLog, SqlSecurityLinks
from musicez.adapters.sql.unit_of_work import SqlUnitOfWork
from musicez.application.activity import ActivityJournal, ListActivity
from musicez.application.ports import ActivityLog, SecurityLinkRepository
from musicez.domain.activity import ActivityCursor, ActivityItem, SecurityLink
from musicez.domain.email import Email
from musicez.domain.ids import SessionId, UserId
from musicez.domain.user import User
from tests.support.activity_fakes import FakeActivityLog, FakeSecurityLinks
from tests.support.fakes import FakeClock

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", "postgres", "fake"])
def sessions(request: pytest.FixtureRequest) -> Sessions | None:
    """The database of the SQL adapters; None for the in-memory fakes."""
    if request.param == "fake":
        return None
    found: Sessions = request.getfixturevalue(f"contract_{request.param}_sessions")
    return found


def activity_log(sessions: Sessions | None) -> ActivityLog:
    return SqlActivityLog(sessions) if sessions is not None else FakeActivityLog()


def security_links(sessions: Sessions | None) -> SecurityLinkRepository:
    return SqlSecurityLinks(sessions) if sessions is not None else FakeSecurityLinks()


async def a_user(sessions: Sessions | None) -> UserId:
    if sessions is None:
        return UserId(uuid.uuid4())
    now = datetime.now(UTC)
    user = User(UserId(uuid.uuid4()), Email.parse(f"feed-{uuid.uuid4().hex[:12]}@example.com"), "hash", now, now)
    async with SqlUnitOfWork(sessions) as uow:
        await uow.users.add(user)
        await uow.commit()
    return user.id


def items_at(user_id: UserId, times: list[datetime], kind: str = "login_failed") -> list[ActivityItem]:
    return [ActivityItem(uuid7(), user_id, kind, at) for at in times]


async def test_pages_are_newest_first_complete_and_the_users_own(sessions: Sessions | None) -> None:
    log = activity_log(sessions)
    mine, theirs = await a_user(sessions), await a_user(sessions)
    base = datetime.now(UTC).replace(microsecond=0)
    # Seven items, three sharing one instant: the id breaks the tie.
    times = [base - timedelta(seconds=s) for s in (0, 1, 1, 1, 2, 3, 4)]
    written = items_at(mine, times)
    await log.add(written)
    await log.add(items_at(theirs, [base]))
    expected = sorted(written, key=lambda i: (i.at, i.id), reverse=True)

    seen: list[ActivityItem] = []
    cursor: ActivityCursor | None = None
    since = base - timedelta(days=1)
    while True:
        page = await log.page(mine, 3, cursor, since)
        seen.extend(page)
        if len(page) < 3:
            break
        cursor = ActivityCursor(page[-1].at, page[-1].id)
    assert [i.id for i in seen] == [i.id for i in expected]
    assert seen[0] == expected[0]
    assert {i.user_id for i in seen} == {mine}
    assert await log.page(mine, 10, None, base - timedelta(seconds=1, microseconds=1)) == expected[:4]


async def test_a_write_repeated_stores_each_item_once(sessions: Sessions | None) -> None:
    """A write whose commit went through but whose answer was lost (an outage) is repeated with
    the items that came after it: what is stored already is skipped, the rest is added."""
    log = activity_log(sessions)
    user = await a_user(sessions)
    base = datetime.now(UTC).replace(microsecond=0)
    first = items_at(user, [base - timedelta(seconds=2), base - timedelta(seconds=1)])
    later = items_at(user, [base])
    await log.add(first)
    await log.add([*first, *later])
    await log.add(first)
    stored = await log.page(user, 10, None, base - timedelta(days=1))
    assert [i.id for i in stored] == [later[0].id, first[1].id, first[0].id]


async def test_the_list_use_case_hands_out_a_cursor_only_when_more_follow(sessions: Sessions | None) -> None:
    log = activity_log(sessions)
    user = await a_user(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    await log.add(items_at(user, [now - timedelta(seconds=s) for s in range(3)]))
    listing = ListActivity(log, FakeClock(now), retention_seconds=3600)
    page, following = await listing.execute(user, 2, None)
    assert len(page) == 2
    assert following is not None
    rest, end = await listing.execute(user, 2, following)
    assert len(rest) == 1
    assert end is None


async def test_new_device_and_device_names_come_from_earlier_logins(sessions: Sessions | None) -> None:
    log = activity_log(sessions)
    journal = ActivityJournal(log)
    user = await a_user(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    old_session, session = SessionId(uuid.uuid4()), SessionId(uuid.uuid4())
    await journal.write([ActivityItem(uuid7(), user, "login", now - timedelta(days=91), old_session, "Old phone")])
    first, again, other = await journal.write(
        [
            ActivityItem(uuid7(), user, "login", now, session, "Old phone"),
            ActivityItem(uuid7(), user, "login", now, SessionId(uuid.uuid4()), "Old phone"),
            ActivityItem(uuid7(), user, "logout", now, old_session),
        ]
    )
    assert first.new_device is True  # seen, but more than 90 days ago
    assert again.new_device is False
    assert other.new_device is None
    assert other.device_name == "Old phone"
    assert await log.known_devices(user, {"Old phone", "Laptop"}, now - timedelta(days=1)) == {"Old phone"}
    assert await log.device_names(user, {session, SessionId(uuid.uuid4())}) == {session: "Old phone"}


async def test_purge_removes_only_items_past_the_retention(sessions: Sessions | None) -> None:
    log = activity_log(sessions)
    user = await a_user(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    await log.add(items_at(user, [now - timedelta(days=100), now - timedelta(days=89)]))
    assert await log.purge(now - timedelta(days=90)) >= 1
    left = await log.page(user, 10, None, now - timedelta(days=1000))
    assert [i.at for i in left] == [now - timedelta(days=89)]


async def test_a_security_link_is_consumed_once_and_only_while_live(sessions: Sessions | None) -> None:
    links = security_links(sessions)
    user = await a_user(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    link = SecurityLink(user, SessionId(uuid.uuid4()))
    live, stale = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    await links.add(live, link, now + timedelta(days=7), now)
    await links.add(stale, link, now - timedelta(seconds=1), now - timedelta(days=7))
    assert await links.consume(stale, now) is None
    assert await links.consume("0" * 64, now) is None
    assert await links.consume(live, now) == link
    assert await links.consume(live, now) is None
    assert await links.purge(now) >= 2


@pytest.fixture(params=["sqlite", "postgres"])
def sql_sessions(request: pytest.FixtureRequest) -> Sessions:
    """The SQL adapters only: the fake has no users table (every user exists there)."""
    found: Sessions = request.getfixturevalue(f"contract_{request.param}_sessions")
    return found


async def test_an_item_of_a_user_that_does_not_exist_is_skipped_not_an_error(sql_sessions: Sessions) -> None:
    """The stand-in item of an unknown email's failed login is written like any other and kept nowhere."""
    log = SqlActivityLog(sql_sessions)
    known, nobody = await a_user(sql_sessions), UserId(uuid.uuid4())
    now = datetime.now(UTC)

    await log.add([*items_at(nobody, [now]), *items_at(known, [now])])
    await log.add(items_at(nobody, [now]))

    since = now - timedelta(days=1)
    assert [item.user_id for item in await log.page(known, 10, None, since)] == [known]
    assert await log.page(nobody, 10, None, since) == []
