"""Sessions in Redis: every change is one Lua script inside the user's hash slot.

Keys, for prefix P, user U and session S (the `{u:U}` hash tag keeps a user's keys in one
slot, so the scripts run unchanged on Redis Cluster):
  P:{u:U}:s:S       hash: device, times, the refresh chain's generation with the current and
                    previous token MACs, and the session's refresh-limit window
  P:{u:U}:s:S:end   string: the tombstone, why the session ended (or, while it lives, why it
                    will: `expired` or `max_age`); it expires a linger after the session would
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

from musicez.adapters.redis.client import AnyRedis, redis_outages
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, RotationOutcome, Session

# How long a tombstone outlives the session's own end, so an expired session's tokens can
# still say `expired` / `max_age` (and an access token outliving its session says why).
DEFAULT_LINGER_SECONDS = 86_400

# Sets the tombstone of KEYS[2] to `reason`, keeping its expiry (or giving it the linger).
_MARK = """
local function mark(key, reason, linger_ms)
  if redis.call('PTTL', key) > 0 then
    redis.call('SET', key, reason, 'KEEPTTL')
  else
    redis.call('SET', key, reason, 'PX', linger_ms)
  end
end
"""

# KEYS: session, tombstone, index. ARGV: sid, now, ends, linger_ms, expiry reason, fields...
_CREATE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
local ends = tonumber(ARGV[3])
local at = math.ceil(ends * 1000)
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('SET', KEYS[2], ARGV[5], 'PXAT', at + tonumber(ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
redis.call('ZADD', KEYS[3], ends, ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], math.ceil(tonumber(last[2]) * 1000))
return 1
"""

# KEYS: session, tombstone, index.
# ARGV: sid, presented, successor, now, grace, refresh_ttl, generation ('' for a pre-v1.1
#       token), limit amount (0: none),
#       limit period, linger_ms
_ROTATE = (
    _MARK
    + """
local linger = tonumber(ARGV[10])
local function finish(reason)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  mark(KEYS[2], reason, linger)
end
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'pat', 'rx', 'ax', 'gen', 'rlw', 'rlc')
if not s[1] then return {'invalid', redis.call('GET', KEYS[2]) or ''} end
local now = tonumber(ARGV[4])
local rx, ax = tonumber(s[4]), tonumber(s[5])
if now >= ax or now >= rx then
  local why = 'expired'
  if rx >= ax then why = 'max_age' end
  finish(why)
  return {'invalid', why}
end
local g = tonumber(s[6] or '0')
local p
local legacy = ARGV[7] == ''
if legacy then
  -- A pre-v1.1 token: placed in the chain by its MAC alone, never stolen by its number.
  if ARGV[2] == s[1] then p = g elseif s[2] and ARGV[2] == s[2] then p = g - 1 else return {'invalid', ''} end
else
  p = tonumber(ARGV[7])
end
-- Counts one successful refresh against the session's window; over it, the wait in seconds.
local function over_limit()
  local amount = tonumber(ARGV[8])
  if amount <= 0 then return false end
  local period = tonumber(ARGV[9])
  local start, count = tonumber(s[7]), tonumber(s[8])
  if not start or now - start >= period then start, count = now, 0 end
  if count >= amount then return math.max(1, math.ceil(start + period - now)) end
  redis.call('HSET', KEYS[1], 'rlw', string.format('%.6f', start), 'rlc', count + 1)
  return false
end
if p == g and ARGV[2] == s[1] then
  local wait = over_limit()
  if wait then return {'limited', wait} end
  local nrx = math.min(now + tonumber(ARGV[6]), ax)
  redis.call('HSET', KEYS[1], 'cur', ARGV[3], 'prev', ARGV[2], 'gen', string.format('%012d', g + 1),
    'pat', ARGV[4], 'lu', ARGV[4], 'rx', string.format('%.6f', nrx))
  local at = math.ceil(nrx * 1000)
  redis.call('PEXPIREAT', KEYS[1], at)
  local why = 'expired'
  if nrx >= ax then why = 'max_age' end
  redis.call('SET', KEYS[2], why, 'PXAT', at + linger)
  redis.call('ZADD', KEYS[3], nrx, ARGV[1])
  if redis.call('PTTL', KEYS[3]) < at - now * 1000 then redis.call('PEXPIREAT', KEYS[3], at) end
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
if p == g - 1 and s[2] and ARGV[2] == s[2] then
  local within = now - tonumber(s[3]) <= tonumber(ARGV[5]) and tonumber(ARGV[5]) > 0
  if within and s[1] == ARGV[3] then
    local wait = over_limit()
    if wait then return {'limited', wait} end
    redis.call('HSET', KEYS[1], 'lu', ARGV[4])
    return {'retried', redis.call('HGETALL', KEYS[1])}
  end
  -- A legacy token's successor had the old format: another successor is no theft signal.
  if legacy and within then return {'invalid', ''} end
  finish('reuse_detected')
  return {'reused'}
end
if p < g - 1 then
  finish('reuse_detected')
  return {'reused'}
end
return {'invalid', ''}
"""
)

# KEYS: session, tombstone, index. ARGV: sid, reason, linger_ms
_REVOKE = (
    _MARK
    + """
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if n == 1 then mark(KEYS[2], ARGV[2], tonumber(ARGV[3])) end
return n
"""
)

# KEYS: index. ARGV: key prefix of the user's sessions, session to keep ('' for none), reason,
# linger_ms. The session keys are derived inside the script; they share the index's hash slot.
_REVOKE_ALL = (
    _MARK
    + """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, sid in ipairs(ids) do
  if sid ~= ARGV[2] then
    local gone = redis.call('DEL', ARGV[1] .. sid)
    if gone == 1 then mark(ARGV[1] .. sid .. ':end', ARGV[3], tonumber(ARGV[4])) end
    n = n + gone
    redis.call('ZREM', KEYS[1], sid)
  end
end
return n
"""
)

# KEYS: session, tombstone. Nothing while the session lives; else the tombstone, if any.
_ENDED_REASON = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
return redis.call('GET', KEYS[2])
"""


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
        self._create = client.register_script(_CREATE)
        self._rotate = client.register_script(_ROTATE)
        self._revoke = client.register_script(_REVOKE)
        self._revoke_all = client.register_script(_REVOKE_ALL)
        self._ended_reason = client.register_script(_ENDED_REASON)

    def _user(self, user_id: UUID) -> str:
        return f"{self._prefix}:{{u:{user_id}}}"

    def _keys(self, user_id: UUID, session_id: UUID) -> list[str]:
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
        user_id: UUID,
        session_id: UUID,
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
            result = await self._rotate(keys=self._keys(user_id, session_id), args=args)
        outcome = RotationOutcome(_text(result[0]))
        if outcome is RotationOutcome.LIMITED:
            wait = int(result[1])
            return Rotation(outcome, retry_after=wait, remaining=0, reset_after=wait)
        if outcome is RotationOutcome.INVALID:
            return Rotation(outcome, reason=_text(result[1]) or None)
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
        args = [str(session_id), reason, self._linger_ms]
        async with redis_outages():
            deleted = await self._revoke(keys=self._keys(user_id, session_id), args=args)
        return int(deleted) > 0

    async def revoke_all(self, user_id: UUID, keep: UUID | None = None, reason: str = "logout_all") -> int:
        user = self._user(user_id)
        args = [f"{user}:s:", str(keep) if keep else "", reason, self._linger_ms]
        async with redis_outages():
            count = await self._revoke_all(keys=[f"{user}:sessions"], args=args)
        return int(count)

    async def ended_reason(self, user_id: UUID, session_id: UUID) -> str | None:
        async with redis_outages():
            found = await self._ended_reason(keys=self._keys(user_id, session_id)[:2])
        return _text(found) if found else None

    async def ping(self) -> None:
        async with redis_outages():
            await self._redis.ping()
