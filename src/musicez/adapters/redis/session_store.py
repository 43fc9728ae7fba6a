"""Sessions in Redis: every change is one Lua script inside the user's hash slot.

Keys, for prefix P, user U and session S (the `{u:U}` hash tag keeps a user's keys in one
slot, so the scripts run unchanged on Redis Cluster):
  P:{u:U}:s:S       hash: device, times, current/previous refresh-token MACs
  P:{u:U}:s:S:old   set: MACs of refresh tokens rotated away before the previous one
  P:{u:U}:sessions  sorted set: session id -> when it ends
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from musicez.adapters.redis.client import AnyRedis, redis_outages
from musicez.domain.session import Rotation, RotationOutcome, Session

# KEYS: session, old, index. ARGV: sid, now, fields...
_CREATE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local ends = tonumber(ARGV[3])
redis.call('PEXPIREAT', KEYS[1], math.ceil(ends * 1000))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
redis.call('ZADD', KEYS[3], ends, ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], math.ceil(tonumber(last[2]) * 1000))
return 1
"""

# KEYS: session, old, index. ARGV: sid, presented, successor, now, grace, refresh_ttl
_ROTATE = """
local function revoke()
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'pat', 'rx', 'ax')
if not s[1] then return {'invalid'} end
local now = tonumber(ARGV[4])
if now >= tonumber(s[5]) or now >= tonumber(s[4]) then
  revoke()
  return {'invalid'}
end
if ARGV[2] == s[1] then
  if s[2] then redis.call('SADD', KEYS[2], s[2]) end
  local rx = math.min(now + tonumber(ARGV[6]), tonumber(s[5]))
  redis.call('HSET', KEYS[1], 'cur', ARGV[3], 'prev', ARGV[2], 'pat', ARGV[4], 'lu', ARGV[4], 'rx', rx)
  local at = math.ceil(rx * 1000)
  redis.call('PEXPIREAT', KEYS[1], at)
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIREAT', KEYS[2], at) end
  redis.call('ZADD', KEYS[3], rx, ARGV[1])
  if redis.call('PTTL', KEYS[3]) < at - now * 1000 then redis.call('PEXPIREAT', KEYS[3], at) end
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
if ARGV[2] == s[2] then
  if now - tonumber(s[3]) <= tonumber(ARGV[5]) and tonumber(ARGV[5]) > 0 and s[1] == ARGV[3] then
    redis.call('HSET', KEYS[1], 'lu', ARGV[4])
    return {'retried', redis.call('HGETALL', KEYS[1])}
  end
  revoke()
  return {'reused'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then
  revoke()
  return {'reused'}
end
return {'invalid'}
"""

# KEYS: session, old, index. ARGV: sid
_REVOKE = """
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return n
"""

# KEYS: index. ARGV: key prefix of the user's sessions, session to keep ('' for none)
# The session keys are derived inside the script; they share the index's hash slot.
_REVOKE_ALL = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, sid in ipairs(ids) do
  if sid ~= ARGV[2] then
    n = n + redis.call('DEL', ARGV[1] .. sid)
    redis.call('DEL', ARGV[1] .. sid .. ':old')
    redis.call('ZREM', KEYS[1], sid)
  end
end
return n
"""


def _ts(value: datetime) -> str:
    return repr(value.timestamp())


def _dt(raw: bytes | str) -> datetime:
    return datetime.fromtimestamp(float(raw), UTC)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisSessionStore:
    def __init__(self, client: AnyRedis, prefix: str = "mez") -> None:
        self._redis = client
        self._prefix = prefix
        self._create = client.register_script(_CREATE)
        self._rotate = client.register_script(_ROTATE)
        self._revoke = client.register_script(_REVOKE)
        self._revoke_all = client.register_script(_REVOKE_ALL)

    def _user(self, user_id: UUID) -> str:
        return f"{self._prefix}:{{u:{user_id}}}"

    def _keys(self, user_id: UUID, session_id: UUID) -> list[str]:
        user = self._user(user_id)
        return [f"{user}:s:{session_id}", f"{user}:s:{session_id}:old", f"{user}:sessions"]

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
        }
        flat = [item for pair in fields.items() for item in pair]
        args = [str(session.id), _ts(session.created_at), _ts(session.refresh_expires_at), *flat]
        async with redis_outages():
            await self._create(keys=self._keys(session.user_id, session.id), args=args)

    async def rotate(
        self,
        user_id: UUID,
        session_id: UUID,
        *,
        presented_hash: str,
        successor_hash: str,
        now: datetime,
        grace_seconds: int,
        refresh_ttl_seconds: int,
    ) -> Rotation:
        args: list[str | int] = [
            str(session_id),
            presented_hash,
            successor_hash,
            _ts(now),
            grace_seconds,
            refresh_ttl_seconds,
        ]
        async with redis_outages():
            result = await self._rotate(keys=self._keys(user_id, session_id), args=args)
        outcome = RotationOutcome(_text(result[0]))
        if len(result) < 2:
            return Rotation(outcome)
        raw = result[1]
        fields = {_text(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}
        return Rotation(outcome, self._session(session_id, fields))

    @staticmethod
    def _session(session_id: UUID, fields: dict[str, Any]) -> Session:
        return Session(
            id=session_id,
            user_id=UUID(_text(fields["uid"])),
            device_name=_text(fields["dev"]),
            created_at=_dt(fields["ca"]),
            last_used_at=_dt(fields["lu"]),
            refresh_expires_at=_dt(fields["rx"]),
            absolute_expires_at=_dt(fields["ax"]),
            email=_text(fields["em"]),
            user_created_at=_dt(fields["uca"]),
        )

    async def get(self, user_id: UUID, session_id: UUID) -> Session | None:
        async with redis_outages():
            raw = await self._redis.hgetall(self._keys(user_id, session_id)[0])
        if not raw:
            return None
        return self._session(session_id, {_text(k): v for k, v in raw.items()})

    async def is_active(self, user_id: UUID, session_id: UUID) -> bool:
        async with redis_outages():
            return bool(await self._redis.exists(self._keys(user_id, session_id)[0]))

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]:
        index = f"{self._user(user_id)}:sessions"
        async with redis_outages():
            # Exclusive: a session is over at its end, as refresh and the memory store say.
            ids = await self._redis.zrangebyscore(index, f"({now.timestamp()!r}", "+inf")
            if not ids:
                return []
            session_ids = [UUID(_text(i)) for i in ids if isinstance(i, bytes | str)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for sid in session_ids:
                    pipe.hgetall(self._keys(user_id, sid)[0])
                rows = await pipe.execute()
        return [
            self._session(sid, {_text(k): v for k, v in row.items()})
            for sid, row in zip(session_ids, rows, strict=True)
            if row
        ]

    async def revoke(self, user_id: UUID, session_id: UUID, reason: str = "logout") -> bool:
        async with redis_outages():
            deleted = await self._revoke(keys=self._keys(user_id, session_id), args=[str(session_id)])
        return int(deleted) > 0

    async def revoke_all(self, user_id: UUID, keep: UUID | None = None, reason: str = "logout_all") -> int:
        user = self._user(user_id)
        async with redis_outages():
            count = await self._revoke_all(keys=[f"{user}:sessions"], args=[f"{user}:s:", str(keep) if keep else ""])
        return int(count)

    async def ended_reason(self, user_id: UUID, session_id: UUID) -> str | None:
        return None  # tombstones: to do (issue 15)

    async def ping(self) -> None:
        async with redis_outages():
            await self._redis.ping()
