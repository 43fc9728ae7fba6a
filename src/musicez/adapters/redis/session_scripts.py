"""The Lua scripts of the Redis session store (`session_store.py` holds the key layout and runs them).

Each runs inside one user's hash slot: every key it touches shares the `{u:U}` hash tag."""

# Sets the tombstone of KEYS[2] to `reason`, keeping its expiry (or giving it the linger).
MARK = """
local function mark(key, reason, linger_ms)
  if redis.call('PTTL', key) > 0 then
    redis.call('SET', key, reason, 'KEEPTTL')
  else
    redis.call('SET', key, reason, 'PX', linger_ms)
  end
end
"""

# KEYS: session, tombstone, index. ARGV: sid, now, ends, linger_ms, expiry reason, fields...
CREATE = """
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
ROTATE = (
    MARK
    + """
local linger = tonumber(ARGV[10])
local function finish(reason)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  mark(KEYS[2], reason, linger)
end
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'pat', 'rx', 'ax', 'gen', 'rlw', 'rlc')
if not s[1] then
  -- Ended. Theft leaves `reuse_detected@G` (G: the generation then current): a token of an
  -- earlier generation was rotated away before that, and is reuse still (nothing left to revoke).
  local t = redis.call('GET', KEYS[2]) or ''
  local at = string.find(t, '@', 1, true)
  if at then
    if ARGV[7] ~= '' and tonumber(ARGV[7]) < tonumber(string.sub(t, at + 1)) then
      return {'reused', string.sub(t, 1, at - 1)}
    end
    t = string.sub(t, 1, at - 1)
  end
  return {'invalid', t}
end
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
    -- A retry counts against the session's refresh limit, but is never refused by it: a 429
    -- would send the client back after Retry-After, past the grace, when the same token is
    -- theft and ends the session. The grace bounds how long a token can be retried.
    over_limit()
    redis.call('HSET', KEYS[1], 'lu', ARGV[4])
    return {'retried', redis.call('HGETALL', KEYS[1])}
  end
  -- A legacy token's successor had the old format: another successor is no theft signal.
  if legacy and within then return {'invalid', ''} end
  finish(string.format('reuse_detected@%012d', g))
  return {'reused'}
end
if p < g - 1 then
  finish(string.format('reuse_detected@%012d', g))
  return {'reused'}
end
return {'invalid', ''}
"""
)

# KEYS: session, tombstone, index. ARGV: sid, reason, linger_ms
REVOKE = (
    MARK
    + """
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if n == 1 then mark(KEYS[2], ARGV[2], tonumber(ARGV[3])) end
return n
"""
)

# KEYS: index. ARGV: key prefix of the user's sessions, session to keep ('' for none), reason,
# linger_ms. The session keys are derived inside the script; they share the index's hash slot.
REVOKE_ALL = (
    MARK
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

# KEYS: session, tombstone. Nothing while the session lives; else the tombstone's reason, if any.
ENDED_REASON = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = redis.call('GET', KEYS[2])
if not t then return false end
return string.match(t, '^[^@]*')
"""
