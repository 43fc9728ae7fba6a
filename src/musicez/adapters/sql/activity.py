"""The activity log and the security links, each call in a short transaction of its own."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, delete, exists, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from musicez.adapters.sql.database import translate_outages
from musicez.adapters.sql.models import ActivityModel, SecurityLinkModel, UserModel
from musicez.domain.activity import ActivityCursor, ActivityItem, ActivityType, SecurityLink
from musicez.domain.ids import SessionId, UserId


def _item(row: ActivityModel) -> ActivityItem:
    detail = row.detail if isinstance(row.detail, dict) else {}
    return ActivityItem(
        id=row.id,
        user_id=UserId(row.user_id),
        type=row.type,
        at=row.at,
        session_id=None if row.session_id is None else SessionId(row.session_id),
        device_name=row.device_name,
        new_device=row.new_device,
        detail={str(k): str(v) for k, v in detail.items()},
    )


_COLUMNS = ("id", "user_id", "type", "at", "session_id", "device_name", "new_device", "detail")
_table = cast(Table, ActivityModel.__table__)
_user_id = bindparam("user_id", type_=_table.c.user_id.type)
# One statement for every item, of a user that exists or not: an item of a user that does not
# exist (deleted meanwhile, or the stand-in of a failed login for an unknown email, which must
# cost what a known account's costs: API.md, login "in the same time") is skipped, not an error.
_SELECTED = select(
    *(_user_id if name == "user_id" else bindparam(name, type_=_table.c[name].type) for name in _COLUMNS)
).where(exists().where(UserModel.__table__.c.id == _user_id))
# An item already stored is skipped too, so a write may be repeated: one whose commit went
# through but whose answer was lost to an outage is written again with the items that came
# after it (`ActivityRecorder` keeps what the database did not take).
_INSERT_IF_THE_USER_EXISTS = {
    "postgresql": postgresql.insert(_table).from_select(list(_COLUMNS), _SELECTED).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(_table).from_select(list(_COLUMNS), _SELECTED).on_conflict_do_nothing(),
}

# The commit does not wait for the WAL flush (Postgres' `synchronous_commit`, this transaction only):
# a known account's failed login inserts a row and an unknown email's inserts none, and waiting for
# the disk (~0.2 ms, milliseconds on a busy one) would tell them apart. A crash of the database
# server may lose the last fraction of a second of activity items; it never corrupts or reorders.
_NO_FLUSH_WAIT = text("SET LOCAL synchronous_commit TO OFF")


class SqlActivityLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, items: list[ActivityItem]) -> None:
        if not items:
            return
        rows = [
            {
                "id": it.id,
                "user_id": it.user_id,
                "type": it.type,
                "at": it.at,
                "session_id": it.session_id,
                "device_name": it.device_name,
                "new_device": it.new_device,
                "detail": dict(it.detail),
            }
            for it in items
        ]
        async with translate_outages(self._sessions), self._sessions() as session:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":  # (SQLite: one writer, no flush to wait for)
                await session.execute(_NO_FLUSH_WAIT)
            await session.execute(_INSERT_IF_THE_USER_EXISTS[dialect], rows)
            await session.commit()

    async def page(
        self, user_id: UserId, limit: int, after: ActivityCursor | None, since: datetime
    ) -> list[ActivityItem]:
        query = select(ActivityModel).where(ActivityModel.user_id == user_id, ActivityModel.at >= since)
        if after is not None:
            query = query.where(
                or_(ActivityModel.at < after.at, and_(ActivityModel.at == after.at, ActivityModel.id < after.id))
            )
        query = query.order_by(ActivityModel.at.desc(), ActivityModel.id.desc()).limit(limit)
        async with translate_outages(self._sessions), self._sessions() as session:
            return [_item(r) for r in (await session.execute(query)).scalars()]

    async def known_devices(self, user_id: UserId, names: set[str], since: datetime) -> set[str]:
        if not names:
            return set()
        query = (
            select(ActivityModel.device_name)
            .where(
                ActivityModel.user_id == user_id,
                ActivityModel.type == ActivityType.LOGIN,
                ActivityModel.at >= since,
                ActivityModel.device_name.in_(names),
            )
            .distinct()
        )
        async with translate_outages(self._sessions), self._sessions() as session:
            return {name for name in (await session.execute(query)).scalars() if name is not None}

    async def device_names(self, user_id: UserId, session_ids: set[SessionId]) -> dict[SessionId, str]:
        if not session_ids:
            return {}
        query = select(ActivityModel.session_id, ActivityModel.device_name).where(
            ActivityModel.user_id == user_id,
            ActivityModel.type == ActivityType.LOGIN,
            ActivityModel.session_id.in_(session_ids),
        )
        async with translate_outages(self._sessions), self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {SessionId(sid): name for sid, name in rows if sid is not None and name is not None}

    async def purge(self, before: datetime) -> int:
        async with translate_outages(self._sessions), self._sessions() as session:
            result = await session.execute(delete(ActivityModel).where(ActivityModel.at < before))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


class SqlSecurityLinks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, token_hash: str, link: SecurityLink, expires_at: datetime, now: datetime) -> None:
        async with translate_outages(self._sessions), self._sessions() as session:
            session.add(
                SecurityLinkModel(
                    token_hash=token_hash,
                    user_id=link.user_id,
                    session_id=link.session_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await session.commit()

    async def consume(self, token_hash: str, now: datetime) -> SecurityLink | None:
        # One conditional UPDATE: of two concurrent uses of one link, one wins.
        async with translate_outages(self._sessions), self._sessions() as session:
            result = await session.execute(
                update(SecurityLinkModel)
                .where(SecurityLinkModel.token_hash == token_hash)
                .where(SecurityLinkModel.used_at.is_(None))
                .where(SecurityLinkModel.expires_at > now)
                .values(used_at=now)
                .returning(SecurityLinkModel.user_id, SecurityLinkModel.session_id)
            )
            row = result.one_or_none()
            await session.commit()
        return SecurityLink(UserId(row[0]), SessionId(row[1])) if row else None

    async def purge(self, now: datetime) -> int:
        async with translate_outages(self._sessions), self._sessions() as session:
            result = await session.execute(
                delete(SecurityLinkModel).where(
                    or_(SecurityLinkModel.expires_at <= now, SecurityLinkModel.used_at.is_not(None))
                )
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
