"""The fence on Redis: one (shard) channel read on a connection of its own, pings and the revoker's wait.

The channel `P:{P:fence}` carries every invalidation. On one node it is a plain channel
(PUBLISH/SUBSCRIBE); on a Cluster a shard channel (SPUBLISH/SSUBSCRIBE), whose hash tag puts
it, and the flush marker `P:{P:fence}:marker`, on one shard.

A ping is `MGET <marker>` sent on the subscriber's own connection, which speaks RESP3 (where a
subscribed connection may run any command). Redis writes a connection's replies and the
channel's messages to it into one stream, in the order it ran them; so the ping's reply comes
after every invalidation published before Redis ran the ping, and it carries the flush marker
as of that moment. One command, no Lua, no publish: a process's pings reach no other process
(before, each process read every process's pings, 100 a second each), and the client side of a
ping is a write and a parsed reply on a connection already being read.

It carries spent failure budgets too (`SpentBudgetNotifier`): a process listens from start-up
(`on_budget_spent` opens the channel), and the failure that spends a budget publishes it once,
without the revoker's wait.

The subscriber is a raw connection of this module's own, not redis-py's PubSub, which
reconnects and resubscribes silently: here every confirmation of the subscription is a reset
of the fence (caches cleared, reads in flight poisoned), and any error, silence, or a slot
move ends the connection and the trust with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection

from musicez.adapters.fence.core import Fence, key_cache, key_message, session_cache, spent_message
from musicez.adapters.fence.metrics import FenceMetrics, NoFenceMetrics
from musicez.adapters.redis.client import AnyRedis, redis_outages
from musicez.adapters.system import detached_task
from musicez.application.ports import SpentBudgetListener
from musicez.domain.ids import ApiKeyId

log = logging.getLogger("musicez.fence")

# The revoker waits the lease plus this much, for clock-rate differences between hosts.
CLOCK_MARGIN = 0.002
READ_SLICE = 0.25  # how long one read of the channel may block before the loop checks its health
RETRY_DELAY = 0.2
OUTBOX_LIMIT = 1_024  # invalidations kept for sending again; past it the flush marker changes instead
CONNECTION_NAME = "musicez-fence"  # the channel's connection in CLIENT LIST (`name=`)

_PUSH_KINDS = frozenset({b"message", b"smessage", b"subscribe", b"ssubscribe", b"unsubscribe", b"sunsubscribe"})


class RedisFence:
    """One per process: the fence, its channel and its pings; starts on first use."""

    def __init__(
        self,
        client: AnyRedis,
        prefix: str,
        *,
        lease: float,
        ping_interval: float,
        session_capacity: int,
        key_capacity: int,
        metrics: FenceMetrics | None = None,
    ) -> None:
        self._client = client
        self.metrics = metrics or NoFenceMetrics()
        self.channel = f"{prefix}:{{{prefix}:fence}}"
        self.marker_key = f"{self.channel}:marker"
        self.ping_interval = ping_interval
        self.fence = Fence(uuid.uuid4().hex[:16], lease, session_cache(session_capacity), key_cache(key_capacity))
        # Without its own ping back for this long, the channel is presumed dead and reopened.
        self.silence = max(1.0, 10 * lease)
        # Pings every `ping_interval` only while the caches are asked for (`wanted`); an idle
        # process (or one serving only public routes) pings this often, to keep the channel's
        # health check and the flush check going: 4 pings a second instead of 100, and no
        # process-count-squared stream of pings on the channel from processes nobody is using.
        self.idle_ping = self.silence / 4
        self.wanted = False
        self._cluster = isinstance(client, RedisCluster)
        self._marker: bytes | None = None
        # The subscriber's connection while it is up, and the pings sent on it whose replies are
        # still to come, in order (a sequence number, or None for a marker check alone).
        self._subscriber: AbstractConnection | None = None
        self._unanswered: deque[int | None] = deque()
        self.pings_sent = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Set, and replaced, each time one of this process's pings comes back (`wait_trusted`).
        self._pinged_back: asyncio.Event | None = None
        # Invalidations whose publish failed, in order, sent again by `_delivery` (`undelivered`).
        self._outbox: dict[bytes, None] = {}
        self._marker_to_change = False
        self._delivery: asyncio.Task[None] | None = None
        self._data_lost_listeners: list[Callable[[], None]] = []

    # -- the guard's side ----------------------------------------------------------------------

    def start(self) -> None:
        """A cache is asked for: open the channel (once, lazily, in the running loop; until then
        nothing is trusted), and keep the pings at their full rate."""
        self.wanted = True
        if self._task is None and not self._closed:
            self._task = detached_task(self._run(), "musicez-fence")

    def open(self) -> None:
        """Read the channel from now on (if in a running loop), whether or not a cache is asked for."""
        if self._task is None and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: the first `start` opens it
                self._task = detached_task(self._run(), "musicez-fence")

    def trusted(self) -> bool:
        self.wanted = True
        return self.fence.trusted(time.monotonic())

    async def wait_trusted(self) -> bool:
        """Whether the caches are trusted, waiting at most one lease for a ping to bring the trust
        back when it only lapsed (the channel is up, its pings are late: a worker the machine did
        not schedule for a while, or a saturated event loop). The caches' callers wait here instead
        of sending every request of the lapse to the store, whose reads (a Postgres query per API
        key) then slow the loop and the next ping further. Never trusted by waiting alone: the
        answer is the fence's own test, at the moment it is given, so strictness is unchanged.
        Not subscribed (the channel down, or not yet confirmed): False at once, the store answers."""
        fence = self.fence
        if fence.trusted(time.monotonic()):
            return True
        if not fence.subscribed or self._closed:
            return False
        self.wanted = True  # the pings at their full rate
        trusted = await self._wait_for_ping(fence.lease)
        self.metrics.waited(trusted)
        return trusted

    async def _wait_for_ping(self, lease: float) -> bool:
        fence = self.fence
        deadline = time.monotonic() + lease
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not fence.subscribed:
                return fence.trusted(time.monotonic())
            if self._pinged_back is None:
                self._pinged_back = asyncio.Event()
            with contextlib.suppress(TimeoutError):  # `timeout`, not `wait_for`: no task per waiter
                async with asyncio.timeout(left):
                    await self._pinged_back.wait()
            if fence.trusted(time.monotonic()):
                return True

    def _ping_came_back(self) -> None:
        event, self._pinged_back = self._pinged_back, None
        if event is not None:
            event.set()

    # -- the revoker's side --------------------------------------------------------------------

    async def revoked(self, message: bytes) -> None:
        """Apply here, publish to all, and return only once every process obeys it or distrusts its cache.
        A publish that fails raises (the revoking request answers 503) and is sent again until
        Redis takes it (`undelivered`): its write may stand, and a retry of the request could find
        nothing left to revoke here while another process still trusts its cache."""
        self.fence.apply(message)
        try:
            async with redis_outages("revocation channel"):
                await self._publish(message)
        except BaseException:
            self.undelivered(message)
            raise
        acknowledged = time.monotonic()
        await asyncio.sleep(max(0.0, acknowledged + self.fence.lease + CLOCK_MARGIN - time.monotonic()))

    async def api_key_revoked(self, key_id: ApiKeyId) -> None:
        await self.revoked(key_message(key_id))

    def undelivered(self, message: bytes) -> None:
        """An invalidation the other processes may not have had: its publish failed, or the
        revoking call failed after its write may have landed in the store. Applied here, and
        published again in the background until Redis takes it (nobody waits for it: the request
        that made it has failed). Bounded: past `OUTBOX_LIMIT` messages the outbox is replaced by a
        change of the flush marker, on which every process clears its caches."""
        self.fence.apply(message)
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.clear()
            self._marker_to_change = True
        else:
            self._outbox[message] = None
        if (self._delivery is None or self._delivery.done()) and not self._closed:
            log.warning("an invalidation could not be published: sending it again until Redis takes it")
            self._delivery = detached_task(self._deliver(), "musicez-fence-outbox")

    async def _deliver(self) -> None:
        while not self._closed:
            if await self._deliver_once():
                return
            await asyncio.sleep(RETRY_DELAY)  # a retry delay, not a wait for an event

    async def _deliver_once(self) -> bool:
        """Everything in the outbox published (or the marker changed in its place): True."""
        try:
            async with redis_outages("revocation channel"):
                if self._marker_to_change:
                    await self._client.set(self.marker_key, uuid.uuid4().hex)
                    self._marker_to_change = False
                while self._outbox:
                    message = next(iter(self._outbox))
                    await self._publish(message)
                    self._outbox.pop(message, None)
        except Exception:  # Redis still refuses: the loop tries again
            return False
        log.info("the invalidations that could not be published are delivered")
        return True

    # -- spent failure budgets -----------------------------------------------------------------

    def on_budget_spent(self, listener: SpentBudgetListener) -> None:
        self.fence.budget_spent = listener
        self.open()

    async def budget_spent(self, name: str, limit: int, reset_after: int) -> None:
        try:
            await self._publish(spent_message(self.fence.process_id, name, limit, reset_after))
        except Exception as error:  # the others learn it on that address's next failure there
            log.warning("could not tell the other processes of a spent failure budget (%s)", type(error).__name__)

    async def _publish(self, message: bytes) -> None:
        if self._cluster:
            assert isinstance(self._client, RedisCluster)
            await self._client.initialize()
            node = self._client.get_node_from_key(self.channel)
            await self._client.execute_command("SPUBLISH", self.channel, message, target_nodes=node)
        else:
            await self._client.publish(self.channel, message)

    # -- the channel -------------------------------------------------------------------------

    async def close(self) -> None:
        if self._outbox or self._marker_to_change:  # one last try, bounded: a process that ends takes them along
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._deliver_once(), timeout=1.0)
        self._closed = True
        delivery, self._delivery = self._delivery, None
        if delivery is not None:
            delivery.cancel()
        task, self._task = self._task, None
        if task is not None:
            for _ in range(3):  # a library that swallows one cancellation does not hold up shutdown
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=1.0)
                if done:
                    break
        self.fence.on_lost()
        self._ping_came_back()

    async def _run(self) -> None:
        unreachable_told = False
        while not self._closed:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: distrust, wait, reconnect
                if self.fence.subscribed:
                    self.metrics.channel_lost()
                    log.warning("revocation channel lost (%s): guard reads go to the store", type(error).__name__)
                    unreachable_told = False
                elif not unreachable_told:  # once per outage, not every retry (a Redis without RESP3 never opens it)
                    # The type alone: a refused HELLO's text may echo its arguments, the password among them.
                    unreachable_told = True
                    log.warning(
                        "revocation channel cannot be opened (%s): guard reads go to the store (needs Redis 6+: RESP3)",
                        type(error).__name__,
                    )
            self.fence.on_lost()
            self._ping_came_back()  # no ping will: the reads waiting out a lapse go to the store now
            await asyncio.sleep(RETRY_DELAY)

    async def _connection(self) -> AbstractConnection:
        if isinstance(self._client, RedisCluster):
            await self._client.initialize()
            node = self._client.get_node_from_key(self.channel)
            if node is None:
                raise ConnectionError("no Cluster node serves the revocation channel")
            kwargs: dict[str, Any] = dict(node.connection_kwargs)
            connection_class: type[AbstractConnection] = node.connection_class
        else:
            pool = self._client.connection_pool
            kwargs = dict(pool.connection_kwargs)
            connection_class = pool.connection_class
        # RESP3: commands on the subscribed connection. Named, so that operators find it in CLIENT LIST.
        kwargs.update(health_check_interval=0, protocol=3, client_name=CONNECTION_NAME)
        kwargs.pop("retry", None)
        connection: AbstractConnection = connection_class(**kwargs)
        await connection.connect()  # type: ignore[no-untyped-call]
        return connection

    async def _listen(self) -> None:
        connection = await self._connection()
        pinger: asyncio.Task[None] | None = None
        stop = asyncio.Event()
        subscribed_at = progress_at = 0.0
        last_confirmed: float | None = None
        self._unanswered.clear()
        try:
            await connection.send_command("SSUBSCRIBE" if self._cluster else "SUBSCRIBE", self.channel)
            while True:
                reply = await connection.read_response(timeout=READ_SLICE, push_request=True)
                now = time.monotonic()
                if reply is not None:
                    if not isinstance(reply, list):
                        raise ConnectionError(f"unexpected reply on the revocation channel: {type(reply).__name__}")
                    kind = reply[0] if len(reply) == 3 else None  # a push: (kind, channel, data or count)
                    if kind not in _PUSH_KINDS:
                        await self._ping_reply(reply)
                    elif kind in (b"message", b"smessage"):
                        self.fence.receive(reply[2])
                    elif kind in (b"subscribe", b"ssubscribe"):
                        await self._adopt_marker()  # before anything read from now on may be kept
                        self.fence.on_subscribed()
                        subscribed_at = now
                        if pinger is None:
                            self._subscriber = connection
                            pinger = asyncio.get_running_loop().create_task(self._pings(stop), name="fence-ping")
                    else:
                        raise ConnectionError("the revocation channel was unsubscribed (slot moved?)")
                if pinger is not None and pinger.done():
                    raise ConnectionError("the fence's pings stopped")
                confirmed = self.fence.confirmed_sent
                if confirmed is not None and confirmed != last_confirmed:
                    last_confirmed, progress_at = confirmed, now
                    self._ping_came_back()
                if subscribed_at and now - max(subscribed_at, progress_at) > self.silence:
                    raise TimeoutError("no ping came back on the revocation channel")
                if not subscribed_at and reply is None:
                    raise TimeoutError("the revocation channel's subscription was not confirmed")
        finally:
            self._subscriber = None
            stop.set()
            if pinger is not None:
                pinger.cancel()
                await asyncio.wait({pinger}, timeout=1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), timeout=1.0)

    async def _ping_reply(self, reply: list[Any]) -> None:
        """The reply to the oldest ping still unanswered: the flush marker as Redis had it when it
        ran the ping. Unchanged, the ping confirms (the fence trusts its caches from the ping's send
        time on); changed or gone, the data was lost (caches cleared)."""
        if len(reply) != 1 or not self._unanswered:
            raise ConnectionError("a reply on the revocation channel matched no ping")
        seq = self._unanswered.popleft()
        marker = reply[0]
        if marker is None or marker != self._marker:
            await self._marker_changed()
        elif seq is not None:
            self.fence.ping_returned(seq)

    async def _adopt_marker(self) -> None:
        """The flush marker: made once by whichever process comes first; any change means lost data
        (also one found on resubscribing: a restart without persistence), told to `on_data_lost`'s
        listeners (the leased rate limits drop what they hold)."""
        await self._client.set(self.marker_key, uuid.uuid4().hex, nx=True)
        marker = await self._client.get(self.marker_key)
        previous, self._marker = self._marker, marker.encode() if isinstance(marker, str) else marker
        if previous is not None and previous != self._marker:
            for listener in self._data_lost_listeners:
                listener()

    def on_data_lost(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the flush marker is found changed (Redis lost data)."""
        self._data_lost_listeners.append(listener)

    async def _pings(self, stop: asyncio.Event) -> None:
        """A ping each `ping_interval` while the caches were asked for since the last one, else each
        `idle_ping`. After a quiet spell the lease has lapsed: the first reads go to the store (as
        when the fence is not trusted for any other reason) until the next ping comes back."""
        last = -math.inf
        while not stop.is_set():
            if self.wanted or time.monotonic() - last >= self.idle_ping:
                self.wanted = False  # before the ping: a read during it asks for the next one
                last = time.monotonic()
                # A ping that cannot be sent ends the pinger, and `_listen` ends the connection (it
                # watches the pinger): the channel's own connection is broken, not one of a pool's.
                await self._ping()
            await asyncio.sleep(self.ping_interval)

    async def _ping(self) -> None:
        """One ping: `MGET <marker>` on the subscriber's connection (see the module docstring);
        its reply is read, in order with the channel's messages, by `_listen`."""
        connection = self._subscriber
        if connection is None:
            return
        if not connection.is_connected:
            # redis-py reconnects a closed connection on the next command: a fresh socket that is
            # subscribed to nothing, whose replies the reader would take for pings that saw the channel.
            raise ConnectionError("the revocation channel's connection is closed")
        sent = time.monotonic()  # before sending
        # None when not subscribed yet, or reset meanwhile: then only the marker check
        seq = self.fence.begin_ping(sent, self.fence.epoch)
        self._unanswered.append(seq)
        self.pings_sent += 1
        await connection.send_command("MGET", self.marker_key)

    async def _marker_changed(self) -> None:
        log.warning("the revocation marker changed (Redis flushed or restarted): caches cleared")
        self.metrics.flushed()
        try:
            await self._adopt_marker()
        finally:
            self.fence.on_flushed()  # after the adoption: what is read from now on is checked against it
