"""The revocation fence: the pure logic, no I/O, driven by the Redis adapter and by the simulation.

Every process keeps in-process caches of what the guard reads (sessions, API-key rows) and
reads one invalidation channel on a connection of its own. A ping is a command sent on that
very connection: Redis writes the channel's messages and the connection's replies into one
ordered stream, so when a process reads a ping's reply, it has seen every invalidation
published before Redis ran that ping. The process trusts its caches only while the last ping
it read back was *sent* less than `lease` seconds ago (its own monotonic clock, read before
sending). A revoking call answers only once `lease` has passed since its
publish was acknowledged; so a request that arrives after the response finds the invalidation
applied, or finds the cache untrusted and reads the store.

Entries are versioned: a read is registered (a ticket) before it is sent; an invalidation of
its key, or any reset, poisons it, and a poisoned read never puts its (maybe stale) value back.
A reset (subscription (re)confirmed or lost, data flushed) clears everything, poisons every
read in flight and forgets every pending ping: after a reset the caches hold only values read
after the current subscription was confirmed.

The channel also carries spent failure budgets (`f`): not invalidations, nothing cached obeys
them; they are handed to `budget_spent` (the `FailureBudget` of the process), never back to
the process that sent them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

from musicez.application.ports import SpentBudgetListener
from musicez.domain.ids import ApiKeyId, SessionId, UserId

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_PENDING_PINGS = 256

# Messages on the channel: ASCII, `|`-separated. (`p|...`: a ping published by a version before
# pings moved to the subscriber's own connection; ignored, as pings of other processes always were.)
_PING = b"p"
_SESSION = b"s"
_USER = b"u"
_KEY = b"k"
_SPENT = b"f"

# A spent budget's name (`scope:<keyed hash>`), its limit and the seconds left in its window
# (at most a day's, the longest period of a limit), as `spent_message` writes them.
_SPENT_BODY = re.compile(rb"([a-z0-9_-]{1,40}:[0-9a-f]{32})\|([1-9][0-9]{0,8})\|([1-9][0-9]{0,5})")
MAX_SPENT_SECONDS = 86_400


def session_message(user_id: UserId, session_id: SessionId) -> bytes:
    return b"s|%s|%s" % (user_id.hex.encode(), session_id.hex.encode())


def user_message(user_id: UserId, keep: SessionId | None = None) -> bytes:
    return b"u|%s|%s" % (user_id.hex.encode(), keep.hex.encode() if keep else b"")


def key_message(key_id: ApiKeyId) -> bytes:
    return b"k|%s" % key_id.hex.encode()


def spent_message(process_id: str, name: str, limit: int, reset_after: int) -> bytes:
    """A failure budget spent: its name, its limit, and the seconds left in its window, not
    the time it ends, so the receiver's clock need not agree with the sender's."""
    return b"f|%s|%s|%d|%d" % (process_id.encode(), name.encode("ascii"), limit, reset_after)


@dataclass(eq=False, slots=True)
class Ticket(Generic[K]):
    """One read in flight; `poisoned` once something that may change its answer happened."""

    key: K
    group: Hashable
    epoch: int
    poisoned: bool = False


@dataclass(slots=True)
class VersionedCache(Generic[K, V]):
    """A capped LRU map whose fills come only from reads that raced no invalidation."""

    capacity: int
    group_of: Callable[[K], Hashable]
    _entries: OrderedDict[K, V] = field(default_factory=OrderedDict)
    _groups: dict[Hashable, set[K]] = field(default_factory=dict)
    _inflight: set[Ticket[K]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        """Whether a value is held for `key` (trusted or not: the fence decides that)."""
        return key in self._entries

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def begin(self, key: K, epoch: int) -> Ticket[K]:
        ticket = Ticket(key, self.group_of(key), epoch)
        self._inflight.add(ticket)
        return ticket

    def finish(self, ticket: Ticket[K], value: V | None, epoch: int, accepting: bool) -> bool:
        """Store what the read found, unless it raced an invalidation or a reset; True if stored."""
        self._inflight.discard(ticket)
        if value is None or ticket.poisoned or ticket.epoch != epoch or not accepting or self.capacity <= 0:
            return False
        self._put(ticket.key, value)
        return True

    def abandon(self, ticket: Ticket[K]) -> None:
        self._inflight.discard(ticket)

    def _put(self, key: K, value: V) -> None:
        if key in self._entries:
            self._entries.move_to_end(key)
        self._entries[key] = value
        self._groups.setdefault(self.group_of(key), set()).add(key)
        while len(self._entries) > self.capacity:
            old, _ = self._entries.popitem(last=False)
            self._unindex(old)

    def _unindex(self, key: K) -> None:
        group = self.group_of(key)
        members = self._groups.get(group)
        if members is not None:
            members.discard(key)
            if not members:
                del self._groups[group]

    def discard(self, key: K) -> None:
        if self._entries.pop(key, None) is not None:
            self._unindex(key)
        for ticket in self._inflight:
            if ticket.key == key:
                ticket.poisoned = True

    def discard_group(self, group: Hashable, keep: K | None = None) -> None:
        for key in list(self._groups.get(group, ())):
            if key != keep:
                del self._entries[key]
                self._unindex(key)
        for ticket in self._inflight:
            if ticket.group == group and ticket.key != keep:
                ticket.poisoned = True

    def clear(self) -> None:
        self._entries.clear()
        self._groups.clear()
        for ticket in self._inflight:
            ticket.poisoned = True


SessionKey = tuple[UserId, SessionId]


def _user_of(key: SessionKey) -> Hashable:
    return key[0]


def _itself(key: ApiKeyId) -> Hashable:
    return key


def session_cache(capacity: int) -> VersionedCache[SessionKey, object]:
    return VersionedCache(capacity, _user_of)


def key_cache(capacity: int) -> VersionedCache[ApiKeyId, object]:
    return VersionedCache(capacity, _itself)


class Fence:
    """When this process may trust its caches, and the invalidations they must obey."""

    def __init__(
        self,
        process_id: str,
        lease: float,
        sessions: VersionedCache[SessionKey, object],
        keys: VersionedCache[ApiKeyId, object],
    ) -> None:
        self.process_id = process_id
        self.lease = lease
        self.sessions = sessions
        self.keys = keys
        self.epoch = 0
        self.subscribed = False
        self._pending: dict[int, float] = {}
        self._seq = 0
        self._confirmed_sent: float | None = None  # when the last ping read back was sent
        self._own_spent = b"f|%s|" % process_id.encode()
        self.resets = 0
        self.budget_spent: SpentBudgetListener | None = None

    # -- the state of trust ----------------------------------------------------------------

    def trusted(self, now: float) -> bool:
        sent = self._confirmed_sent
        return self.subscribed and sent is not None and now - sent < self.lease

    @property
    def confirmed_sent(self) -> float | None:
        return self._confirmed_sent

    def _reset(self, subscribed: bool) -> None:
        self.sessions.clear()
        self.keys.clear()
        self.epoch += 1
        self.subscribed = subscribed
        self._pending.clear()
        self._confirmed_sent = None
        self.resets += 1

    def on_subscribed(self) -> None:
        """The channel's subscription is confirmed (first time or again): start from nothing."""
        self._reset(True)

    def on_lost(self) -> None:
        """The channel connection is gone, silent or behind: nothing cached may be trusted."""
        self._reset(False)

    def on_flushed(self) -> None:
        """The store lost data without the channel noticing (FLUSHALL, a restart behind a proxy)."""
        self._reset(self.subscribed)

    # -- pings -------------------------------------------------------------------------------

    def begin_ping(self, sent_at: float, epoch: int) -> int | None:
        """A ping about to be sent, read at `sent_at` (before sending) in `epoch`: its sequence
        number, for `ping_returned`; None when not subscribed or reset meanwhile."""
        if not self.subscribed or epoch != self.epoch:
            return None
        self._seq += 1
        self._pending[self._seq] = sent_at
        if len(self._pending) > MAX_PENDING_PINGS:
            del self._pending[next(iter(self._pending))]
        return self._seq

    def ping_returned(self, seq: int) -> None:
        """The reply to ping `seq` was read, in order with the channel's messages."""
        sent = self._pending.pop(seq, None)
        if sent is None:  # from before a reset, or a duplicate
            return
        for older in [s for s in self._pending if s < seq]:  # FIFO: those are lost for good
            del self._pending[older]
        if self._confirmed_sent is None or sent > self._confirmed_sent:
            self._confirmed_sent = sent

    # -- the channel ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """One message read from the channel, in channel order."""
        kind = data[:1]
        if kind == _PING:
            return
        if kind == _SPENT:
            self._spent(data)
            return
        self.apply(data)

    def _spent(self, data: bytes) -> None:
        """A spent budget from another process; one not understood is dropped (it ends nothing)."""
        listener = self.budget_spent
        if listener is None or data.startswith(self._own_spent):
            return
        _, _, body = data[2:].partition(b"|")  # after the sender's id
        match = _SPENT_BODY.fullmatch(body)
        if match is None:
            return
        name, limit, seconds = match.groups()
        listener(name.decode("ascii"), int(limit), min(int(seconds), MAX_SPENT_SECONDS))

    def apply(self, data: bytes) -> None:
        """An invalidation: from the channel, or this process's own revocation, applied at once."""
        parts = data.split(b"|")
        try:
            if parts[0] == _SESSION and len(parts) == 3:
                self.sessions.discard((UserId(UUID(hex=parts[1].decode())), SessionId(UUID(hex=parts[2].decode()))))
            elif parts[0] == _USER and len(parts) == 3:
                user = UserId(UUID(hex=parts[1].decode()))
                keep = (user, SessionId(UUID(hex=parts[2].decode()))) if parts[2] else None
                self.sessions.discard_group(user, keep)
            elif parts[0] == _KEY and len(parts) == 2:
                self.keys.discard(ApiKeyId(UUID(hex=parts[1].decode())))
            else:
                self._unknown()
        except ValueError:
            self._unknown()

    def _unknown(self) -> None:
        # Something this version does not understand: it may be an invalidation, so forget everything.
        self.sessions.clear()
        self.keys.clear()
