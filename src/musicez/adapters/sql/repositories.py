"""Repositories as plain SQLAlchemy 2.0 statements, translating rows to domain entities and back.
Outages are translated by the unit of work (or `translate_outages`), never here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from musicez.adapters.sql.database import translate_outages
from musicez.adapters.sql.models import ApiKeyModel, PasswordResetTokenModel, UserModel
from musicez.domain.api_key import ApiKey
from musicez.domain.email import Email, email_key
from musicez.domain.errors import EmailTaken
from musicez.domain.ids import ApiKeyId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.user import User


def _user(row: UserModel) -> User:
    return User(
        UserId(row.id),
        Email(row.email),
        row.password_hash,
        row.created_at,
        row.updated_at,
        row.disabled,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        last_login_at=row.last_login_at,
    )


def api_key_from_row(row: ApiKeyModel) -> ApiKey:
    return ApiKey(
        id=ApiKeyId(row.id),
        name=row.name,
        prefix=row.prefix,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        rate_limit=RateLimit.parse(row.rate_limit) if row.rate_limit else None,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        scope=row.scope or "api",
    )


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        row = UserModel(
            id=user.id,
            email=user.email.value,
            email_key=user.email.key,
            password_hash=user.password_hash,
            disabled=user.disabled,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError:  # the unique email key: a dropped connection is an OperationalError
            raise EmailTaken() from None

    async def get(self, user_id: UserId) -> User | None:
        row = await self._session.scalar(select(UserModel).where(UserModel.id == user_id))
        return _user(row) if row else None

    async def get_by_email(self, email: Email) -> User | None:
        row = await self._session.scalar(select(UserModel).where(UserModel.email_key == email.key))
        return _user(row) if row else None

    async def set_password(self, user_id: UserId, password_hash: str, now: datetime) -> None:
        await self._session.execute(
            update(UserModel).where(UserModel.id == user_id).values(password_hash=password_hash, updated_at=now)
        )

    async def replace_hash(self, user_id: UserId, old_hash: str, new_hash: str) -> bool:
        result = await self._session.execute(
            update(UserModel)
            .where(UserModel.id == user_id)
            .where(UserModel.password_hash == old_hash)
            .values(password_hash=new_hash, updated_at=UserModel.updated_at)  # the same password: no change
            .returning(UserModel.id)
        )
        return result.scalar_one_or_none() is not None

    async def set_disabled(self, user_id: UserId, disabled: bool, reason: str | None, now: datetime) -> None:
        values: dict[str, object] = {"disabled": disabled, "updated_at": now}
        values.update(
            {"disabled_reason": reason, "disabled_at": now}
            if disabled
            else {"disabled_reason": None, "disabled_at": None}
        )
        await self._session.execute(update(UserModel).where(UserModel.id == user_id).values(**values))

    async def record_login(self, user_id: UserId, now: datetime) -> None:
        # `updated_at` is when the account's credentials last changed (the device tokens' stamp,
        # `application/devices.py`): kept as it is, not bumped by the column's own `onupdate`.
        await self._session.execute(
            update(UserModel).where(UserModel.id == user_id).values(last_login_at=now, updated_at=UserModel.updated_at)
        )

    async def search(
        self, *, email_contains: str | None, disabled: bool | None, after: UserId | None, limit: int
    ) -> list[User]:
        query = select(UserModel).order_by(UserModel.id.asc()).limit(limit)
        if email_contains:
            query = query.where(UserModel.email_key.contains(email_key(email_contains), autoescape=True))
        if disabled is not None:
            query = query.where(UserModel.disabled.is_(disabled))
        if after is not None:
            query = query.where(UserModel.id > after)
        rows = (await self._session.execute(query)).scalars().all()
        return [_user(r) for r in rows]


class SqlApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        self._session.add(
            ApiKeyModel(
                id=key.id,
                name=key.name,
                prefix=key.prefix,
                secret_hash=key.secret_hash,
                rate_limit=str(key.rate_limit) if key.rate_limit else None,
                scope=key.scope,
                expires_at=key.expires_at,
                created_at=key.created_at,
                updated_at=key.created_at,
            )
        )
        await self._session.flush()

    async def get(self, key_id: ApiKeyId) -> ApiKey | None:
        row = await self._session.scalar(select(ApiKeyModel).where(ApiKeyModel.id == key_id))
        return api_key_from_row(row) if row else None

    async def list(self) -> list[ApiKey]:
        rows = await self._session.scalars(select(ApiKeyModel).order_by(ApiKeyModel.created_at.asc()))
        return [api_key_from_row(r) for r in rows]

    async def revoke(self, key_id: ApiKeyId, now: datetime) -> bool:
        found = (await self._session.execute(select(ApiKeyModel.revoked_at).where(ApiKeyModel.id == key_id))).first()
        if found is None:
            return False
        if found.revoked_at is None:
            await self._session.execute(
                update(ApiKeyModel).where(ApiKeyModel.id == key_id).values(revoked_at=now, updated_at=now)
            )
        return True

    async def record_usage(self, last_used: Mapping[ApiKeyId, datetime]) -> None:
        # In key order: every worker flushes on the same schedule, and two transactions that lock
        # the same rows in different orders deadlock (Postgres aborts one; its times were lost).
        for key_id, when in sorted(last_used.items()):
            await self._session.execute(
                update(ApiKeyModel)
                .where(ApiKeyModel.id == key_id)
                .where((ApiKeyModel.last_used_at.is_(None)) | (ApiKeyModel.last_used_at < when))
                .values(last_used_at=when)
            )


class SqlResetTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace_for_user(self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime) -> None:
        await self._session.execute(delete(PasswordResetTokenModel).where(PasswordResetTokenModel.user_id == user_id))
        self._session.add(
            PasswordResetTokenModel(
                user_id=user_id, token_hash=token_hash, expires_at=expires_at, created_at=now, updated_at=now
            )
        )
        await self._session.flush()

    async def revoke_for_user(self, user_id: UserId) -> None:
        await self._session.execute(delete(PasswordResetTokenModel).where(PasswordResetTokenModel.user_id == user_id))

    async def add_for_user(
        self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime, max_live: int
    ) -> None:
        model = PasswordResetTokenModel
        await self._session.execute(
            delete(model).where(model.user_id == user_id).where((model.expires_at <= now) | model.used_at.is_not(None))
        )
        self._session.add(
            model(user_id=user_id, token_hash=token_hash, expires_at=expires_at, created_at=now, updated_at=now)
        )
        await self._session.flush()
        newest = (
            select(model.id)
            .where(model.user_id == user_id)
            .order_by(model.created_at.desc(), model.id.desc())
            .limit(max_live)
        )
        await self._session.execute(delete(model).where(model.user_id == user_id).where(model.id.not_in(newest)))

    async def find(self, token_hash: str, now: datetime) -> UserId | None:
        model = PasswordResetTokenModel
        result = await self._session.execute(
            select(model.user_id)
            .where(model.token_hash == token_hash)
            .where(model.used_at.is_(None))
            .where(model.expires_at > now)
        )
        found = result.scalar_one_or_none()
        return None if found is None else UserId(found)

    async def consume(self, token_hash: str, now: datetime) -> UserId | None:
        # One conditional UPDATE: of two concurrent resets with one token, one wins.
        result = await self._session.execute(
            update(PasswordResetTokenModel)
            .where(PasswordResetTokenModel.token_hash == token_hash)
            .where(PasswordResetTokenModel.used_at.is_(None))
            .where(PasswordResetTokenModel.expires_at > now)
            .values(used_at=now, updated_at=now)
            .returning(PasswordResetTokenModel.user_id)
        )
        found = result.scalar_one_or_none()
        user_id = None if found is None else UserId(found)
        if user_id is not None:
            await self._session.execute(
                delete(PasswordResetTokenModel)
                .where(PasswordResetTokenModel.user_id == user_id)
                .where(PasswordResetTokenModel.token_hash != token_hash)
            )
        return user_id


class SqlApiKeyLookup:
    """Reads one key by id in a short session of its own: the guard's path."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def cached(self, key_id: ApiKeyId) -> ApiKey | None:
        return None  # every answer is a query (the fenced cache in front of it keeps them)

    async def find(self, key_id: ApiKeyId) -> ApiKey | None:
        async with translate_outages(self._sessions), self._sessions() as session:
            row = await session.scalar(select(ApiKeyModel).where(ApiKeyModel.id == key_id))
            return api_key_from_row(row) if row else None
