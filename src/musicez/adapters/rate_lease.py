"""Leased quota for the per-principal rate limit: a process takes a chunk of a principal's
window budget from the shared store in one atomic call and spends it locally.

The store counts units *granted* in a fixed window (not requests): a lease asks for a chunk
and gets `max(1, min(cap, max_chunk, left // (divisor * max(1, lessees - 1))))` of what is
left, so the chunk shrinks as the budget runs low and is 1 near the limit (one round trip per
request, exactly today's limiter).

Units granted are spent only where they were granted: a process that runs dry is refused by
the store while others still hold some. Two things keep what the others hold small, so that a
principal whose requests are spread over many processes is not refused far below its limit:
- the chunk shrinks with the number of processes that leased in the window (`lessees`, a set
  the store keeps next to the count, with the same expiry); one or two processes lease as if
  alone;
- a process starts each window small and grows (slow start): its first lease in a window asks
  for at most `FIRST_CHUNK`, each next one for at most `GROWTH` times the last it got. A
  process that serves few of the principal's requests never holds a big chunk.
With the two, a principal whose requests each go to a random one of 32 processes gets about
nine tenths of a 100/minute limit before its first 429, and all of a 600/minute one (a model of
the script over random spreads); over 16 processes on real Redis, at least nine tenths of 600
(`tests/contract/test_rate_limiter.py`). With chunks of `left // divisor` alone, 494 of 600
passed over 16 processes, and a fifth of 600 over 32.

Every unit a process spends was granted to it in the current window, and a process
stops spending a window's units before that window ends (its local end is measured from
*before* the lease was sent), so across all processes a principal never gets more than its
limit in a window. Units a process holds when the window ends are dropped, never carried.

`Remaining` is `limit - granted + held`: exact with one process, and near the limit (where
every request leases one unit); with several processes far from the limit it is as of this
process's last lease. A principal found exhausted is refused locally until the window ends.

Leases travel together: the lease a principal's refill sends carries, in the same round trip
(one pipeline, each lease still its own atomic script), those of up to `MAX_RIDERS` other
principals this process has spent down to half their chunk. A round trip costs far more than
the script it carries, so under load a process makes a fraction of the round trips for the same
units; a rider only leases a little sooner than it would have, and every unit is still granted
before it is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from musicez.adapters.redis.batching import evalsha_each
from musicez.adapters.redis.client import AnyRedis, redis_outages
from musicez.application.ports import RateDecision
from musicez.domain.rate_limit import RateLimit

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# A RateDecision from a tuple of its four fields, without the named tuple's `__new__` frame
# (half its cost, ~0.13 µs, on every guarded request).
_decision = functools.partial(tuple.__new__, RateDecision)

DEFAULT_MAX_CHUNK = 64
DEFAULT_DIVISOR = 8
FIRST_CHUNK = 4  # the most a process asks for with its first lease of a window (slow start)
GROWTH = 4  # ... and with each next one, this many times the last chunk it got
# What a process waits past the store's answer of what was left of a window (`Grant.ttl_ms`)
# before it leases in the next one: Redis answers PTTL in whole milliseconds rounded down, and
# expires a key only once its clock is past the key's millisecond. One more for good measure.
ENDED_MARGIN = 0.003


@dataclass(frozen=True, slots=True)
class Grant:
    """What the store answered: units handed to this caller (0: none left), units granted in
    this window in total (this grant included), and milliseconds until the window ends."""

    granted: int
    used: int
    ttl_ms: int


class _Held:
    __slots__ = ("end", "last", "refill_at", "ride_at", "seq", "units", "used")

    def __init__(self, units: int, used: int, end: float, seq: int = 0) -> None:
        self.units = units  # granted to this process, not yet spent
        self.used = used  # granted in the window in total, as of the last lease
        self.end = end  # local monotonic time at which this window's units stop being spendable
        self.last = units  # the last chunk granted in this window (the next lease asks for GROWTH x it)
        self.seq = seq  # the newest lease applied (leases are numbered as they are sent)
        self.refill_at = refill_point(units)  # spending down to this many units leases the next chunk
        self.ride_at = ride_point(units)  # ... and down to this many, it may ride along another's lease


def refill_point(granted: int) -> int:
    """How many units may be left when the next lease goes out ahead of need: a quarter of the
    chunk just granted (-1, never, for chunks under 4: near the limit every request leases)."""
    return granted // 4 if granted >= 4 else -1


def ride_point(granted: int) -> int:
    """How many units may be left when the next chunk may ride along with another principal's
    lease: half the chunk just granted (-1, never, for chunks under 4, as `refill_point`)."""
    return granted // 2 if granted >= 4 else -1


class LeasedRateLimiter:
    """The per-principal limiter: `hit` spends a locally held unit, leasing a chunk when none is left."""

    MAX_HELD = 100_000
    MAX_RIDERS = 15  # other principals' leases one round trip carries
    MAX_WAITS = 8
    MAX_ENDED = 3  # leases again after a window that ended while its lease was on the way

    def __init__(
        self,
        store: QuotaStore,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        first_chunk: int = FIRST_CHUNK,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._first_chunk = first_chunk  # slow start (see the module)
        self._refills: set[asyncio.Task[None]] = set()
        self._held: dict[tuple[str, RateLimit], _Held] = {}
        # key -> (limit, what `_held` holds for that slot): the hot path's lookup by the key alone.
        # Hashing the (key, limit) pair runs the limit's Python-level `__hash__` on every request;
        # the limit a principal is held against is the same object from request to request.
        self._latest: dict[str, tuple[RateLimit, _Held]] = {}
        self._pending: dict[tuple[str, RateLimit], asyncio.Future[None]] = {}
        # Principals spent down to their ride point: their next lease goes with the next refill
        # (what each held when it got here, so one that was reset or replaced since is skipped).
        self._riders: dict[tuple[str, RateLimit], _Held] = {}
        self._resets = 0  # how many resets so far: a lease sent before one brings back no units
        self._sent = 0  # leases sent so far: each is numbered, so a reply overtaken by a newer one is known

    @staticmethod
    def _decision(allowed: bool, limit: RateLimit, held: _Held, now: float) -> RateDecision:
        remaining = max(0, limit.amount - held.used) + held.units
        return RateDecision(allowed, limit.amount, min(limit.amount, remaining), max(1, math.ceil(held.end - now)))

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        decision = self.hit_nowait(key, limit)
        if decision is not None:
            return decision
        return await self._hit(key, limit)

    def hit_nowait(self, key: str, limit: RateLimit) -> RateDecision | None:
        """The hot path: spend a unit held for this very limit, if one is (else None: `hit`)."""
        latest = self._latest.get(key)
        if latest is not None and latest[0] is limit:
            held = latest[1]
            if held.units > 0:
                now = self._clock()
                if now < held.end:
                    held.units -= 1
                    units = held.units
                    if units <= held.ride_at:  # (ride_at >= refill_at)
                        if units == held.refill_at:
                            self._refill(key, limit, now)
                        elif units == held.ride_at:
                            self._riders[(key, limit)] = held
                    amount = limit.amount
                    remaining = max(0, amount - held.used) + held.units
                    return _decision((True, amount, min(amount, remaining), max(1, math.ceil(held.end - now))))
        return None

    def _refill(self, key: str, limit: RateLimit, now: float) -> None:
        """Lease the next chunk in the background while units are still held, so that in the
        steady state no request waits for the store. Exactness is unchanged: only granted units
        are ever spent, and a chunk that lands in a later window starts that window afresh. The
        lease counts as in flight from now on (a request that runs out meanwhile waits for it
        instead of sending a second one). A failed refill is dropped: the request that then
        finds nothing held leases itself (and answers 503 if the store is down). Riders (see the
        module) go with it, each claimed as its own lease on the way."""
        slot = (key, limit)
        held = self._held.get(slot)
        if held is not None and held.used >= limit.amount:  # none left to lease
            return
        try:
            done = self._claim(slot)
        except RuntimeError:  # no event loop (a synchronous caller): the next `hit` leases
            return
        if done is None:  # a lease is on its way already
            return
        self._riders.pop(slot, None)
        batch = [(slot, done), *self._take_riders(now)]
        task = asyncio.get_running_loop().create_task(self._background_lease(batch, now))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    def _cap(self, slot: tuple[str, RateLimit], now: float) -> int:
        """The most the next lease for `slot` asks for: slow start (see the module)."""
        held = self._held.get(slot)
        if held is None or now >= held.end or held.last <= 0:
            return self._first_chunk
        return held.last * GROWTH

    def _take_riders(self, now: float) -> list[tuple[tuple[str, RateLimit], asyncio.Future[None]]]:
        """Up to MAX_RIDERS principals still at or under their ride point in a live window with
        budget left and no lease on its way, each claimed."""
        taken: list[tuple[tuple[str, RateLimit], asyncio.Future[None]]] = []
        riders = self._riders
        while riders and len(taken) < self.MAX_RIDERS:
            slot, was = riders.popitem()
            held = self._held.get(slot)
            if held is not was or now >= held.end or held.used >= slot[1].amount or held.units > held.ride_at:
                continue
            done = self._claim(slot)
            if done is not None:
                taken.append((slot, done))
        return taken

    async def _background_lease(
        self, batch: list[tuple[tuple[str, RateLimit], asyncio.Future[None]]], sent: float
    ) -> None:
        try:
            resets = self._resets
            self._sent += 1
            seq = self._sent
            # see `_refill`: a lease that failed is dropped, the request path leases (and reports) itself
            with contextlib.suppress(Exception):
                slots = [slot for slot, _ in batch]
                grants = await self._store.lease_many(slots, [self._cap(slot, sent) for slot in slots])
                now = self._clock()
                for (slot, _), grant in zip(batch, grants, strict=True):
                    if isinstance(grant, Grant):
                        self._apply(slot, sent, resets, grant, now, seq=seq)
        finally:
            for slot, done in batch:
                self._release(slot, done)

    async def aclose(self) -> None:
        """Before the store's connection closes: no refill is left on the way."""
        refills = list(self._refills)
        for task in refills:
            task.cancel()
        await asyncio.gather(*refills, return_exceptions=True)

    async def _hit(self, key: str, limit: RateLimit) -> RateDecision:
        slot = (key, limit)
        now = self._clock()
        for attempt in range(self.MAX_WAITS + 1):
            held = self._held.get(slot)
            if held is not None and now < held.end:
                if held.units > 0:
                    held.units -= 1
                    return self._decision(True, limit, held, now)
                if held.used >= limit.amount:  # exhausted: refused locally until the window ends
                    return self._decision(False, limit, held, now)
            pending = self._pending.get(slot)
            if pending is not None and attempt < self.MAX_WAITS:
                # One lease in flight per principal and process: wait for its chunk instead of
                # asking for another (a burst would otherwise strand units in this process).
                await asyncio.shield(pending)
                now = self._clock()
                continue
            sent = now
            held, now = await self._single_lease(slot, sent)
            # That window ended on the way back: lease again, in the next one. Far from the limit
            # that is no reason to refuse. A lease sent right away can land in the same window
            # again, and again: this process's end is measured from before its lease was sent, so
            # it comes a little before the store's, by as much as a round trip took. (Three leases
            # sent back to back all landed in a window's last milliseconds under the bench's load,
            # and a principal at about half its limit got a 429.) So the next lease goes once the
            # store's window is surely over: what the store said was left of it (`held.end` is
            # `sent` plus that, less a millisecond), counted from the reply, plus a margin. That
            # wait is at most the round trip that just ended, plus the margin. (`held.end` also
            # takes off a ten-thousandth of what was left: under 1 ms while that was under 10 s.)
            for _ in range(self.MAX_ENDED):
                if now < held.end:
                    break
                await self._sleep(max(0.0, held.end - sent) + ENDED_MARGIN)
                sent = self._clock()
                held, now = await self._single_lease(slot, sent)
            if held.units > 0 and now < held.end:
                held.units -= 1
                return self._decision(True, limit, held, now)
            if held.used >= limit.amount or now >= held.end:
                return self._decision(False, limit, held, now)
        return self._decision(False, limit, _Held(0, limit.amount, now + 1), now)  # pragma: no cover

    def _claim(self, slot: tuple[str, RateLimit]) -> asyncio.Future[None] | None:
        """Registers the caller's lease as the one on its way for `slot` (others wait for it),
        unless one already is (None)."""
        if slot in self._pending:
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[slot] = done
        return done

    def _release(self, slot: tuple[str, RateLimit], done: asyncio.Future[None] | None) -> None:
        if done is not None:
            if self._pending.get(slot) is done:
                del self._pending[slot]
            done.set_result(None)

    async def _single_lease(self, slot: tuple[str, RateLimit], sent: float) -> tuple[_Held, float]:
        done = self._claim(slot)
        try:
            return await self._lease(slot, sent)
        finally:
            self._release(slot, done)

    async def _lease(self, slot: tuple[str, RateLimit], sent: float) -> tuple[_Held, float]:
        resets = self._resets
        self._sent += 1
        seq = self._sent
        grant = await self._store.lease(*slot, self._cap(slot, sent))
        return self._apply(slot, sent, resets, grant, self._clock(), seq=seq)

    def _apply(
        self, slot: tuple[str, RateLimit], sent: float, resets: int, grant: Grant, now: float, *, seq: int
    ) -> tuple[_Held, float]:
        """What lease number `seq`, sent at `sent` (before `resets` resets), brought back, read at `now`."""
        if self._resets != resets:  # its units were counted in a window a reset has since cleared
            return _Held(0, 0, sent), now  # already over: the caller leases again
        # Measured from before the lease was sent, less a millisecond (the store's own rounding),
        # and less a ten-thousandth of what was left (this host's clock and Redis's may run at
        # rates a few tens of millionths apart: over a day's window, seconds): never later than
        # the store's end of the window.
        end = sent + (grant.ttl_ms * 0.9999 - 1) / 1000
        held = self._held.get(slot)
        if held is not None and now < held.end and seq > held.seq and grant.used - grant.granted < held.used:
            # The store's count went back within the window (it counted at least `held.used` before
            # this grant): it lost it (a flush, a failover) or a reset cleared it. What is held here
            # was granted in a count it no longer has, so it is dropped (spent, it would come on top
            # of what the store now grants): keep this grant only. (Not for a reply overtaken by a
            # newer lease's, sent after it: its count is older, not gone back.)
            held = _Held(grant.granted, grant.used, min(held.end, end), seq)
            self._keep(slot, held, now)
        elif held is not None and now < held.end:  # the same window: add to what is held
            held.units += grant.granted
            held.used = max(held.used, grant.used)
            held.end = min(held.end, end)
            if grant.granted > 0:
                held.last = grant.granted
            held.seq = max(held.seq, seq)
            held.refill_at = refill_point(grant.granted)
            held.ride_at = ride_point(grant.granted)
        else:
            held = _Held(grant.granted, grant.used, end, seq)
            self._keep(slot, held, now)
        self._latest[slot[0]] = (slot[1], held)
        return held, now

    def _keep(self, slot: tuple[str, RateLimit], held: _Held, now: float) -> None:
        table = self._held
        if len(table) >= self.MAX_HELD:
            for stale in [s for s, h in table.items() if h.end <= now]:
                del table[stale]
            if len(table) >= self.MAX_HELD:
                table.clear()  # dropping held units only ever under-spends
            self._riders.clear()  # (only ever a lease sooner or later)
            self._latest = {key: latest for key, latest in self._latest.items() if (key, latest[0]) in table}
        table[slot] = held

    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        """Asks the store (a reset by another process shows at once), plus what is held here."""
        used, ttl_ms = await self._store.peek(key, limit)
        now = self._clock()
        held = self._held.get((key, limit))
        units = held.units if held is not None and now < held.end else 0
        view = _Held(units, used, now + (ttl_ms / 1000 if ttl_ms > 0 else limit.seconds))
        return self._decision(units > 0 or used < limit.amount, limit, view, now)

    def forget(self) -> None:
        """The store lost its counts (Redis flushed, restarted without persistence, or failed over;
        the fence saw its marker change): nothing held here was granted in a count the store still
        has, so none of it is spent, and a lease on its way brings back no units."""
        self._resets += 1
        self._held.clear()
        self._latest.clear()
        self._riders.clear()

    async def refund(self, key: str, limit: RateLimit) -> None:
        """A unit spent here, held again (granted to this process in a window that is still live,
        so spending it again is within the limit; never more than its last chunk)."""
        held = self._held.get((key, limit))
        if held is not None and self._clock() < held.end and held.units < held.last:
            held.units += 1

    async def reset(self, key: str, limit: RateLimit) -> None:
        self._resets += 1
        self._held.pop((key, limit), None)
        self._riders.pop((key, limit), None)
        self._latest.pop(key, None)
        await self._store.clear(key, limit)
        self._resets += 1  # and what was granted while the clear was on the way


class QuotaStore:
    """Where the units granted in each window are counted (the interface of the two stores)."""

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        """A chunk of `limit`'s window for `key`: at most `cap` units (None: the store's most)."""
        raise NotImplementedError

    async def lease_many(
        self, slots: list[tuple[str, RateLimit]], caps: list[int] | None = None
    ) -> list[Grant | Exception]:
        """Several leases, in one round trip where the store can (each still atomic on its own):
        each one's grant, or the exception that lease ended in."""
        results: list[Grant | Exception] = []
        for i, (key, limit) in enumerate(slots):
            try:
                results.append(await self.lease(key, limit, caps[i] if caps else None))
            except Exception as error:  # handed back in its place
                results.append(error)
        return results

    async def peek(self, key: str, limit: RateLimit) -> tuple[int, int]:
        """(units granted in the current window, milliseconds until it ends; 0 if none is open)"""
        raise NotImplementedError

    async def clear(self, key: str, limit: RateLimit) -> None:
        raise NotImplementedError


def chunk_for(left: int, max_chunk: int, divisor: int, lessees: int = 1, cap: int | None = None) -> int:
    """What a lease asking for at most `cap` units gets of `left` (the script's arithmetic): see
    the module."""
    most = max_chunk if cap is None else min(cap, max_chunk)
    return max(1, min(most, left // (divisor * max(1, lessees - 1))))


class MemoryQuotaStore(QuotaStore):
    """The store for one process (development): the same leases, counted in a dict."""

    MAX_WINDOWS = 100_000

    def __init__(
        self, clock: Monotonic = time.monotonic, max_chunk: int = DEFAULT_MAX_CHUNK, divisor: int = DEFAULT_DIVISOR
    ) -> None:
        self._clock = clock
        self._max_chunk = max_chunk
        self._divisor = divisor
        self._windows: dict[tuple[str, RateLimit], list[float]] = {}  # -> [used, end]

    def _window(self, key: str, limit: RateLimit, now: float) -> list[float] | None:
        window = self._windows.get((key, limit))
        if window is not None and window[1] <= now:
            del self._windows[(key, limit)]
            return None
        return window

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        now = self._clock()
        window = self._window(key, limit, now)
        if window is None:
            if len(self._windows) >= self.MAX_WINDOWS:
                for stale in [k for k, w in self._windows.items() if w[1] <= now]:
                    del self._windows[stale]
            window = self._windows[(key, limit)] = [0, now + limit.seconds]
        left = limit.amount - int(window[0])
        chunk = chunk_for(left, self._max_chunk, self._divisor, cap=cap) if left > 0 else 0  # one process: one lessee
        window[0] += chunk
        return Grant(chunk, int(window[0]), max(0, int((window[1] - now) * 1000)))

    async def peek(self, key: str, limit: RateLimit) -> tuple[int, int]:
        now = self._clock()
        window = self._window(key, limit, now)
        if window is None:
            return 0, 0
        return int(window[0]), max(0, int((window[1] - now) * 1000))

    async def clear(self, key: str, limit: RateLimit) -> None:
        self._windows.pop((key, limit), None)


# KEYS[1] the window's counter, KEYS[2] the set of processes that leased in it (the same hash
# tag: the same slot on Redis Cluster); ARGV: limit, window ms, max chunk, divisor, this lease's
# cap, this process's id. Returns {granted, used, ttl ms}. The set expires with the counter.
_LEASE = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = limit - used
local chunk = 0
if left > 0 then
  redis.call('SADD', KEYS[2], ARGV[6])
  local others = redis.call('SCARD', KEYS[2]) - 1
  if others < 1 then others = 1 end
  chunk = math.floor(left / (tonumber(ARGV[4]) * others))
  if chunk > tonumber(ARGV[3]) then chunk = tonumber(ARGV[3]) end
  if chunk > tonumber(ARGV[5]) then chunk = tonumber(ARGV[5]) end
  if chunk < 1 then chunk = 1 end
  used = redis.call('INCRBY', KEYS[1], chunk)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
end
if left > 0 and redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {chunk, used, ttl}
"""


class RedisQuotaStore(QuotaStore):
    """The shared store: one Lua call per lease. A principal's keys carry its hash tag, so
    they live in its own slot on Redis Cluster."""

    def __init__(
        self, client: AnyRedis, prefix: str, max_chunk: int = DEFAULT_MAX_CHUNK, divisor: int = DEFAULT_DIVISOR
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._max_chunk = max_chunk
        self._divisor = divisor
        self._id = uuid.uuid4().hex[:12]  # this process, in the lessee sets (12 bytes per set member)
        self._lease = client.register_script(_LEASE)

    def _key(self, key: str, limit: RateLimit) -> str:
        return f"{self._prefix}:{{{key}}}:{limit.amount}/{limit.seconds}"

    def _call(self, key: str, limit: RateLimit, cap: int | None) -> tuple[list[str], list[str | int]]:
        name = self._key(key, limit)
        most = self._max_chunk if cap is None else max(1, cap)
        return [name, name + ":p"], [limit.amount, limit.seconds * 1000, self._max_chunk, self._divisor, most, self._id]

    async def lease(self, key: str, limit: RateLimit, cap: int | None = None) -> Grant:
        keys, args = self._call(key, limit, cap)
        async with redis_outages("rate limiter"):
            granted, used, ttl = await self._lease(keys=keys, args=args)
        return Grant(int(granted), int(used), int(ttl))

    async def lease_many(
        self, slots: list[tuple[str, RateLimit]], caps: list[int] | None = None
    ) -> list[Grant | Exception]:
        """One pipeline of the lease script's EVALSHA, one per slot (`evalsha_each`: each lease
        atomic on its own, on Redis Cluster in its principal's slot; one answered NOSCRIPT is sent
        again alone, which loads the script)."""
        if len(slots) == 1:
            return await super().lease_many(slots, caps)
        calls = [self._call(key, limit, caps[i] if caps else None) for i, (key, limit) in enumerate(slots)]
        async with redis_outages("rate limiter"):
            replies = await evalsha_each(self._client, self._lease, calls)
        return [
            reply if isinstance(reply, Exception) else Grant(int(reply[0]), int(reply[1]), int(reply[2]))
            for reply in replies
        ]

    async def peek(self, key: str, limit: RateLimit) -> tuple[int, int]:
        name = self._key(key, limit)
        async with redis_outages("rate limiter"):
            used = await self._client.get(name)
            ttl = await self._client.pttl(name)
        return int(used or 0), max(0, int(ttl))

    async def clear(self, key: str, limit: RateLimit) -> None:
        name = self._key(key, limit)
        async with redis_outages("rate limiter"):
            await self._client.delete(name, name + ":p")
