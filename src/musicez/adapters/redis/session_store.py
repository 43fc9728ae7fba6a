"""Sessions in Redis: every change is one Lua script inside the user's hash slot.

Keys, for prefix P, user U and session S (the `{u:U}` hash tag keeps a user's keys in one
slot, so the scripts run unchanged on Redis Cluster):
  P:{u:U}:s:S       hash: device, times, the refresh chain's generation with the current and
                    previous token MACs, and the session's refresh-limit window
  P:{u:U}:s:S:end   string: the tombstone, why the session ended (or, while it lives, why it
                    will: `expired` or `max_age`); after theft `reuse_detected@G`, G the
                    generation then current, so a token rotated away before it is still
                    known as reuse; it expires a linger after the session would
  P:{u:U}:sessions  sorted set: session id -> when it ends

A session's storage is the same after one rotation and after a million: an older token is
known as stolen by its generation number (carried, MAC'd, in the token), not by a set of
old MACs. Every stored number has a fixed width, so not even a byte grows.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from musicez.adapters.redis.batching import ScriptBatch
from musicez.adapters.redis.client import AnyRedis, redis_outages
from musicez.adapters.redis.session_scripts import CREATE, ENDED_REASON, REVOKE, REVOKE_ALL, ROTATE
from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, RotationOutcome, Session

# How long a tombstone outlives the session's own end, so an expired session's tokens can
# still say `expired` / `max_age` (and an access token outliving its session says why).
DEFAULT_LINGER_SECONDS = 86_400


def _ts(value: datetime) -> str:
    return f"{value.timestamp():.6f}"  # fixed width: a session's size never depends on its times


def _dt(raw: bytes | str) -> datetime:
    return datetime.fromtimestamp(float(raw), UTC)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _expiry_reason(session: Session) -> str:
    """What the tombstone says if the session simply runs out: its refresh lifetime, or its
    absolute lifetime when the refresh expiry was capped there."""
    return EndReason.MAX_AGE if session.refresh_expires_at >= session.absolute_expires_at else EndReason.EXPIRED


class RedisSessionStore:
    def __init__(self, client: AnyRedis, prefix: str = "mez", linger_seconds: int = DEFAULT_LINGER_SECONDS) -> None:
        self._redis = client
        self._prefix = prefix
        self._linger_ms = str(linger_seconds * 1000)
        self._create = client.register_script(CREATE)
        # Refreshes arriving together share round trips (batching.py): a rotation is a busy
        # worker's most frequent Redis call.
        self._rotate = ScriptBatch(client, client.register_script(ROTATE))
        self._revoke = client.register_script(REVOKE)
        self._revoke_all = client.register_script(REVOKE_ALL)
        self._ended_reason = client.register_script(ENDED_REASON)

    def _user(self, user_id: UserId) -> str:
        return f"{self._prefix}:{{u:{user_id}}}"

    def _keys(self, user_id: UserId, session_id: SessionId) -> list[str]:
        user = self._user(user_id)
        return [f"{user}:s:{session_id}", f"{user}:s:{session_id}:end", f"{user}:sessions"]

    async def create(self, session: Session, refresh_hash: str) -> None:
        fields = {
            "uid": str(session.user_id),
            "dev": session.device_name,
            "ca": _ts(session.created_at),
            "lu": _ts(session.last_used_at),
            "rx": _ts(session.refresh_expires_at),
            "ax": _ts(session.absolute_expires_at),
            "em": session.email,
            "uca": _ts(session.user_created_at or session.created_at),
            "cur": refresh_hash,
            "gen": f"{0:012d}",
        }
        flat = [item for pair in fields.items() for item in pair]
        args = [
            str(session.id),
            _ts(session.created_at),
            _ts(session.refresh_expires_at),
            self._linger_ms,
            _expiry_reason(session),
            *flat,
        ]
        async with redis_outages():
            await self._create(keys=self._keys(session.user_id, session.id), args=args)

    async def rotate(
        self,
        user_id: UserId,
        session_id: SessionId,
        *,
        presented_hash: str,
        successor_hash: str,
        now: datetime,
        grace_seconds: int,
        refresh_ttl_seconds: int,
        generation: int | None,
        limit: RateLimit | None = None,
    ) -> Rotation:
        args: list[str | int] = [
            str(session_id),
            presented_hash,
            successor_hash,
            _ts(now),
            grace_seconds,
            refresh_ttl_seconds,
            "" if generation is None else generation,
            limit.amount if limit else 0,
            limit.seconds if limit else 0,
            self._linger_ms,
        ]
        async with redis_outages():
            result = await self._rotate(self._keys(user_id, session_id), args)
        outcome = RotationOutcome(_text(result[0]))
        if outcome is RotationOutcome.LIMITED:
            wait = int(result[1])
            return Rotation(outcome, retry_after=wait, remaining=0, reset_after=wait)
        if outcome is RotationOutcome.INVALID:
            return Rotation(outcome, reason=_text(result[1]) or None)
        if outcome is RotationOutcome.REUSED:  # with a reason: the session had ended for theft already
            return Rotation(outcome, reason=_text(result[1]) if len(result) > 1 else None)
        if len(result) < 2:
            return Rotation(outcome)
        raw = result[1]
        fields = {_text(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}
        rotation = Rotation(outcome, self._session(session_id, fields))
        if limit is None or limit.amount <= 0 or "rlw" not in fields:
            return rotation
        # The session's refresh window, as the script just counted it (for the RateLimit-* headers).
        left = float(fields["rlw"]) + limit.seconds - now.timestamp()
        return replace(
            rotation,
            remaining=max(0, limit.amount - int(_text(fields.get("rlc", b"0")))),
            reset_after=max(1, math.ceil(left)),
        )

    @staticmethod
    def _session(session_id: SessionId, fields: dict[str, Any]) -> Session:
        return Session(
            id=session_id,
            user_id=UserId(UUID(_text(fields["uid"]))),
            device_name=_text(fields["dev"]),
            created_at=_dt(fields["ca"]),
            last_used_at=_dt(fields["lu"]),
            refresh_expires_at=_dt(fields["rx"]),
            absolute_expires_at=_dt(fields["ax"]),
            email=_text(fields["em"]),
            user_created_at=_dt(fields["uca"]),
        )

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        return None  # every answer is a round trip (the fenced cache in front of it keeps them)

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        async with redis_outages():
            raw = await self._redis.hgetall(self._keys(user_id, session_id)[0])
        if not raw:
            return None
        return self._session(session_id, {_text(k): v for k, v in raw.items()})

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]:
        index = f"{self._user(user_id)}:sessions"
        async with redis_outages():
            # Exclusive: a session is over at its end, as refresh and the memory store say.
            ids = await self._redis.zrangebyscore(index, f"({now.timestamp()!r}", "+inf")
            if not ids:
                return []
            session_ids = [SessionId(UUID(_text(i))) for i in ids if isinstance(i, bytes | str)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for sid in session_ids:
                    pipe.hgetall(self._keys(user_id, sid)[0])
                rows = await pipe.execute()
        return [
            self._session(sid, {_text(k): v for k, v in row.items()})
            for sid, row in zip(session_ids, rows, strict=True)
            if row
        ]

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        args = [str(session_id), reason, self._linger_ms]
        async with redis_outages():
            deleted = await self._revoke(keys=self._keys(user_id, session_id), args=args)
        return int(deleted) > 0

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        user = self._user(user_id)
        args = [f"{user}:s:", str(keep) if keep else "", reason, self._linger_ms]
        async with redis_outages():
            count = await self._revoke_all(keys=[f"{user}:sessions"], args=args)
        return int(count)

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        async with redis_outages():
            found = await self._ended_reason(keys=self._keys(user_id, session_id)[:2])
        return _text(found) if found else None

    async def ping(self) -> None:
        async with redis_outages():
            await self._redis.ping()
