"""A deterministic simulation of the revocation fence: one Redis, several processes, fake clocks.

The processes run the real `Fence` and `VersionedCache` (musicez.adapters.fence.core) and do,
step by step, what the Redis adapter and the decorators do (`RedisFence._ping`, `_listen`,
`revoked`; `FencedSessionStore.get`). Everything else is made hostile by a seeded random
source: every command and every reply has its own delay (so commands of one process overtake
each other and replies race the channel), the channel keeps per-subscriber order (what Redis
guarantees) but with arbitrary, sometimes longer-than-the-lease, delays, duplicates some
messages later in the stream and drops others (a drop is what Redis does: the subscriber's
connection dies, noticed late or never); processes stall (no event of theirs runs for a while);
their monotonic clocks have arbitrary offsets; Redis may restart (all data and subscriptions
lost) or be flushed (data lost, subscriptions kept).

`run()` returns what each request was answered and when each revocation was answered, and
`violations()` checks the strict-revocation property on them: no request that arrives after
a revocation's response accepts the session; and no request that arrives a lease after a
restart or flush accepts a session the store lost.

The `Flaws` switches break the design on purpose, so the tests can show the simulation catches it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from musicez.adapters.fence.core import Fence, key_cache, session_cache, session_message, user_message
from musicez.domain.ids import SessionId, UserId

LEASE = 0.050
PING = 0.010
MARGIN = 0.002
WAIT_STEP = 0.001  # how often a read waiting out a lapse looks again (RedisFence wakes on each ping back)
RETRY = 0.020
CONFIRM = b"<subscribed>"
PONG = b"<pong>|"  # the reply to a ping (MGET <marker>) on the subscriber's connection: PONG|seq|marker

USERS = [UserId(UUID(int=1)), UserId(UUID(int=2))]
SESSIONS = {SessionId(UUID(int=100 + i)): USERS[i // 2] for i in range(4)}  # two sessions per user


@dataclass(frozen=True)
class Flaws:
    no_wait: bool = False  # the revoker answers at once
    no_versions: bool = False  # a read that raced its invalidation puts its value back
    no_reset_on_subscribe: bool = False  # a new subscription keeps what the old one cached
    no_marker: bool = False  # a flush is not noticed
    trust_after_wait: bool = False  # a read that waited out a lapse takes the cache without the fence's test
    ping_apart: bool = False  # a ping's reply comes on a connection of its own, not in the channel's stream


@dataclass(frozen=True)
class Faults:
    slow: float = 0.0  # chance that one hop takes up to 2 leases
    drop: float = 0.0  # chance that a channel message kills the subscriber's connection
    duplicate: float = 0.0  # chance that a channel message comes again later
    detect_after: float = 0.05  # the longest it takes a process to notice a dead connection
    stalls: tuple[tuple[int, float, float], ...] = ()  # (process, start, length)
    restart_at: float | None = None
    flush_at: float | None = None


@dataclass(frozen=True)
class Op:
    at: float
    process: int
    session: SessionId  # a single revocation; with `all_of_user`, the user's and this one is kept or not
    all_of_user: bool = False
    keep: bool = False


@dataclass
class Subscription:
    process: int
    generation: int
    alive: bool = True
    next_free: float = 0.0  # when the stream to the process is free again (it keeps order)
    commands_free: float = 0.0  # when the stream from the process is (so do its commands)


@dataclass
class Request:
    arrived: float
    process: int
    session: SessionId
    accepted: bool | None = None
    cached: bool = False
    waited: bool = False  # found the lease lapsed with the session cached, and waited


@dataclass
class Revocation:
    op: Op
    answered: float | None = None


class Process:
    def __init__(self, index: int, offset: float, stalls: list[tuple[float, float]]) -> None:
        self.index = index
        self.offset = offset
        self.stalls = sorted(stalls)
        self.fence = Fence(f"proc{index}", LEASE, session_cache(3), key_cache(3))
        self.generation = 0
        self.busy = False
        self.inbox: deque[bytes] = deque()
        self.pinger = 0
        self.marker: str | None = None
        self.connection: Subscription | None = None  # the subscriber's connection it reads now

    def stalled_until(self, t: float) -> float | None:
        for start, end in self.stalls:
            if start <= t < end:
                return end
        return None


@dataclass
class Simulation:
    seed: int
    processes: int
    ops: list[Op]
    faults: Faults
    flaws: Flaws = Flaws()
    horizon: float = 0.4
    request_every: float = 0.002
    now: float = 0.0
    data: set[SessionId] = field(default_factory=lambda: set(SESSIONS))
    marker: str | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    revocations: list[Revocation] = field(default_factory=list)
    losses: list[tuple[float, frozenset[SessionId]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._markers = itertools.count()
        stalls: dict[int, list[tuple[float, float]]] = {}
        for index, start, length in self.faults.stalls:
            stalls.setdefault(index % self.processes, []).append((start, start + length))
        self.procs = [Process(i, self.rng.uniform(-1000.0, 1000.0), stalls.get(i, [])) for i in range(self.processes)]

    # -- the machinery ---------------------------------------------------------------------

    def hop(self) -> float:
        if self.rng.random() < self.faults.slow:
            return self.rng.uniform(0.003, 2 * LEASE)
        return self.rng.uniform(0.0001, 0.002)

    def at(self, when: float, action: Callable[[], None], proc: Process | None = None) -> None:
        if proc is None:
            heapq.heappush(self._queue, (when, next(self._order), action))
            return

        def guarded() -> None:  # a stalled process runs nothing until its stall ends, in order
            end = proc.stalled_until(self.now)
            if end is not None:
                self.at(end, action, proc)
            else:
                action()

        heapq.heappush(self._queue, (when, next(self._order), guarded))

    def local(self, proc: Process) -> float:
        return self.now + proc.offset

    def command(self, proc: Process, on_server: Callable[[], object], on_reply: Callable[[object], None]) -> None:
        """One command on its own connection: delayed there, run atomically, reply delayed back."""

        def arrive() -> None:
            result = on_server()
            self.at(self.now + self.hop(), lambda: on_reply(result), proc)

        self.at(self.now + self.hop(), arrive)

    # -- Redis ---------------------------------------------------------------------------

    def publish(self, message: bytes) -> None:
        for sub in self.subscriptions:
            self.deliver(sub, message)

    def deliver(self, sub: Subscription, message: bytes) -> None:
        if not sub.alive:
            return
        if message != CONFIRM and self.rng.random() < self.faults.drop:
            sub.alive = False  # what Redis does to a subscriber it cannot feed: the connection dies
            self.lost_later(sub)
            return
        when = max(sub.next_free, self.now + self.hop())
        sub.next_free = when
        proc = self.procs[sub.process]
        self.at(when, lambda: self.on_delivery(proc, sub.generation, message), proc)
        if message != CONFIRM and not message.startswith(PONG) and self.rng.random() < self.faults.duplicate:
            again = max(sub.next_free, when + self.hop())
            sub.next_free = again
            self.at(again, lambda: self.on_delivery(proc, sub.generation, message), proc)

    def lost_later(self, sub: Subscription) -> None:
        proc = self.procs[sub.process]
        noticed = self.now + self.rng.uniform(0.0, self.faults.detect_after)
        self.at(noticed, lambda: self.lost(proc, sub.generation), proc)

    def adopt_marker(self) -> str:
        if self.marker is None:
            self.marker = f"m{next(self._markers)}"
        return self.marker

    def restart(self) -> None:
        self.losses.append((self.now, frozenset(self.data)))
        self.data.clear()
        self.marker = None
        for sub in self.subscriptions:
            if sub.alive:
                sub.alive = False
                self.lost_later(sub)
        self.subscriptions.clear()

    def flush(self) -> None:
        self.losses.append((self.now, frozenset(self.data)))
        self.data.clear()
        if not self.flaws.no_marker:
            self.marker = None

    # -- a process: the channel (RedisFence._listen) ----------------------------------------------

    def subscribe(self, proc: Process) -> None:
        proc.generation += 1
        generation = proc.generation

        def arrive() -> None:
            sub = Subscription(proc.index, generation, next_free=self.now)
            self.subscriptions.append(sub)
            proc.connection = sub
            self.deliver(sub, CONFIRM)

        self.at(self.now + self.hop(), arrive)

    def lost(self, proc: Process, generation: int) -> None:
        if generation != proc.generation:
            return
        proc.generation += 1
        proc.pinger += 1
        proc.busy = False
        proc.inbox.clear()
        proc.fence.on_lost()
        self.at(self.now + RETRY, lambda: self.subscribe(proc), proc)

    def on_delivery(self, proc: Process, generation: int, message: bytes) -> None:
        if generation != proc.generation:
            return  # a connection this process has given up
        if proc.busy:
            proc.inbox.append(message)
            return
        if message == CONFIRM:
            proc.busy = True

            def adopted(marker: object) -> None:
                if generation != proc.generation:
                    return
                proc.marker = str(marker)
                if self.flaws.no_reset_on_subscribe:
                    proc.fence.subscribed = True
                else:
                    proc.fence.on_subscribed()
                proc.busy = False
                proc.pinger += 1
                self.ping(proc, proc.pinger)
                while proc.inbox and not proc.busy:
                    self.on_delivery(proc, generation, proc.inbox.popleft())

            self.command(proc, self.adopt_marker, adopted)
            return
        if message.startswith(PONG):
            raw_seq, raw_marker = message[len(PONG) :].split(b"|")
            if raw_marker.decode() != proc.marker:  # RedisFence._ping_reply: the data was lost
                proc.busy = True

                def readopted(new: object) -> None:
                    if generation != proc.generation:
                        return
                    proc.marker = str(new)
                    proc.fence.on_flushed()
                    proc.busy = False
                    while proc.inbox and not proc.busy:
                        self.on_delivery(proc, generation, proc.inbox.popleft())

                self.command(proc, self.adopt_marker, readopted)
            elif raw_seq:
                proc.fence.ping_returned(int(raw_seq))
            return
        proc.fence.receive(message)

    # -- a process: the pings (RedisFence._ping) ---------------------------------------------------

    def ping(self, proc: Process, pinger: int) -> None:
        """RedisFence._ping: `MGET <marker>` on the subscriber's own connection, a ping interval
        apart whether or not the last reply came; Redis writes the reply into the stream the
        channel's messages come in, in the order it ran them."""
        if pinger != proc.pinger or self.now > self.horizon:
            return
        sub = proc.connection
        sent = self.local(proc)
        seq = proc.fence.begin_ping(sent, proc.fence.epoch)
        if sub is not None:
            arrives = max(sub.commands_free, self.now + self.hop())
            sub.commands_free = arrives

            def run() -> None:  # on the server: a dead connection carries nothing back
                marker = "" if self.marker is None else self.marker
                reply = PONG + b"%s|%s" % (b"" if seq is None else b"%d" % seq, marker.encode())
                if self.flaws.ping_apart:  # racing the channel's messages, as a pool connection's would
                    generation = sub.generation
                    self.at(self.now + self.hop(), lambda: self.on_delivery(proc, generation, reply), proc)
                else:
                    self.deliver(sub, reply)

            self.at(arrives, run)
        self.at(self.now + PING, lambda: self.ping(proc, pinger), proc)

    # -- a process: the guard's read (FencedSessionStore.get) --------------------------------------

    def request(self, proc: Process, session: SessionId) -> None:
        record = Request(self.now, proc.index, session)
        self.requests.append(record)

        fence = proc.fence
        key = (SESSIONS[session], session)

        def handle() -> None:
            if fence.trusted(self.local(proc)) and fence.sessions.get(key) is not None:
                record.accepted, record.cached = True, True
                return
            if fence.subscribed and key in fence.sessions:
                # Only the lease lapsed (RedisFence.wait_trusted): wait, at most a lease, for a
                # ping to bring the trust back, looking again as the process runs, then read.
                waited_until = self.local(proc) + LEASE
                record.waited = True
                self.at(self.now + WAIT_STEP, lambda: waiting(waited_until), proc)
                return
            read()

        def waiting(until: float) -> None:
            local = self.local(proc)
            if key in fence.sessions and (self.flaws.trust_after_wait or fence.trusted(local)):
                record.accepted, record.cached = True, True
                return
            if fence.subscribed and key in fence.sessions and local < until:
                self.at(self.now + WAIT_STEP, lambda: waiting(until), proc)
                return
            read()

        def read() -> None:
            ticket = fence.sessions.begin(key, fence.epoch)

            def found(alive: object) -> None:
                if self.flaws.no_versions:
                    ticket.poisoned = False
                fence.sessions.finish(ticket, key if alive else None, fence.epoch, fence.subscribed)
                record.accepted = bool(alive)

            self.command(proc, lambda: session in self.data, found)

        self.at(self.now, handle, proc)

    # -- a process: a revocation (FencedSessionStore.revoke / revoke_all, RedisFence.revoked) -----

    def revoke(self, op: Op) -> None:
        proc = self.procs[op.process]
        record = Revocation(op)
        self.revocations.append(record)
        user = SESSIONS[op.session]
        if op.all_of_user:
            keep = op.session if op.keep else None
            message = user_message(user, keep)
            doomed = {s for s, u in SESSIONS.items() if u == user and s != keep}
        else:
            message, doomed = session_message(user, op.session), {op.session}

        def delete() -> None:
            self.data.difference_update(doomed)

        def deleted(_: object) -> None:
            proc.fence.apply(message)
            self.command(proc, lambda: self.publish(message), acknowledged)

        def acknowledged(_: object) -> None:
            wait = 0.0 if self.flaws.no_wait else LEASE + MARGIN

            def answer() -> None:
                record.answered = self.now

            self.at(self.now + wait, answer, proc)

        self.at(op.at, lambda: self.command(proc, delete, deleted), proc)

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> Simulation:
        for proc in self.procs:
            self.at(self.rng.uniform(0.0, 0.005), lambda p=proc: self.subscribe(p))  # type: ignore[misc]
        for op in self.ops:
            self.revoke(op)
        if self.faults.restart_at is not None:
            self.at(self.faults.restart_at, self.restart)
        if self.faults.flush_at is not None:
            self.at(self.faults.flush_at, self.flush)
        t = 0.01
        sessions = list(SESSIONS)
        while t < self.horizon:
            proc = self.procs[self.rng.randrange(self.processes)]
            session = self.rng.choice(sessions)
            self.at(t, lambda p=proc, s=session: self.request(p, s))  # type: ignore[misc]
            t += self.rng.uniform(0.0, 2 * self.request_every)
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            if when > self.horizon + 0.5:
                break
            self.now = when
            action()
        return self

    def violations(self) -> list[str]:
        found: list[str] = []
        ends: dict[SessionId, float] = {}
        for rev in self.revocations:
            if rev.answered is None:
                continue
            user = SESSIONS[rev.op.session]
            if rev.op.all_of_user:
                keep = rev.op.session if rev.op.keep else None
                doomed = [s for s, u in SESSIONS.items() if u == user and s != keep]
            else:
                doomed = [rev.op.session]
            for session in doomed:
                ends[session] = min(ends.get(session, rev.answered), rev.answered)
        for req in self.requests:
            if not req.accepted:
                continue
            end = ends.get(req.session)
            if end is not None and req.arrived >= end:
                found.append(f"{req} accepted after the revocation answered at {end:.4f}")
            for when, lost in self.losses:
                if req.session in lost and req.arrived >= when + LEASE + MARGIN:
                    found.append(f"{req} accepted a lease after the store lost it at {when:.4f}")
        return found
