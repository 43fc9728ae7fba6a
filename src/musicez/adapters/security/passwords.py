"""bcrypt in worker threads: hashing never blocks the event loop, and its backlog is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import bcrypt

from musicez.domain.errors import HashingBusy
from musicez.domain.password_policy import MAX_BYTES, normalise_password

T = TypeVar("T")

MIN_COST, MAX_COST = 4, 20
_DECOY_PASSWORD = b"decoy password for unknown accounts"
RECENT_COSTS = 256


def _lower_priority() -> None:
    """Hashing threads yield the CPU to request handling: a login storm must not slow
    every other route (Linux applies a thread's nice value to that thread alone)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def bcrypt_cost(password_hash: str) -> int | None:
    """The cost of a `$2b$12$...` hash; None when it is not one."""
    parts = password_hash.split("$")
    if len(parts) < 4 or not parts[2].isdecimal():
        return None
    return int(parts[2])


class BcryptHasher:
    """`threads` hash at once; more wait only while the wait they would face is short.

    A hash is admitted when every thread is busy only if the hashes ahead of it would be done
    within `max_wait` seconds (from the measured time a hash takes here: a queue of 4 at cost 12
    is as long as a queue of 1,000 at cost 4), and never more than `MAX_WAITING` per thread.
    Past that `HashingBusy` is raised at once (503 with Retry-After), instead of queueing
    without bound.

    Unknown accounts cost what known ones do, also while a cost change is rolling out: the
    costs of the last `RECENT_COSTS` stored hashes verified are remembered, and the decoy for an
    unknown email is verified at one of them, chosen by the email, so each unknown address
    behaves like one account of the current population (steadily, not a random mix) and the
    mix of costs follows the rehashing of known accounts to the configured cost.
    """

    MAX_WAITING = 500  # per thread, whatever the measured speed

    def __init__(self, rounds: int, threads: int | None = None, max_wait: float = 1.0) -> None:
        self._rounds = rounds
        self._workers = threads or os.cpu_count() or 1
        self._max_wait = max_wait
        self._pending = 0
        self._lock = threading.Lock()
        # Seconds one hash takes, at the configured cost (~0.25 s at 12 on a 2020s core) until measured.
        self._seconds_per_hash = 0.25 * 2.0 ** (rounds - 12)
        self._pool = ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="bcrypt", initializer=_lower_priority
        )
        self._decoys: dict[int, Future[bytes]] = {}
        self._recent_costs: deque[int] = deque(maxlen=RECENT_COSTS)
        # Made in the pool, like every hash: never on the event loop. Timed: the first measure
        # of a hash at the configured cost on this machine, before any request is admitted.
        self._decoys[rounds] = self._pool.submit(self._timed_decoy, rounds)

    def _decoy(self, cost: int) -> Future[bytes]:
        decoy = self._decoys.get(cost)
        if decoy is None:
            decoy = self._decoys[cost] = self._pool.submit(bcrypt.hashpw, _DECOY_PASSWORD, bcrypt.gensalt(cost))
        return decoy

    def _timed_decoy(self, cost: int) -> bytes:
        started = time.perf_counter()
        decoy = bcrypt.hashpw(_DECOY_PASSWORD, bcrypt.gensalt(cost))
        with self._lock:
            self._seconds_per_hash = time.perf_counter() - started
        return decoy

    def _done(self, seconds: float | None = None) -> None:
        with self._lock:
            self._pending -= 1
            if seconds is not None:  # a moving average of what one hash (or check) takes here
                self._seconds_per_hash += (seconds - self._seconds_per_hash) / 8

    def _counted(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self._done(time.perf_counter() - started)

    def _refuse_if_full(self) -> None:
        """Under the lock: HashingBusy if one more hash would wait too long."""
        waiting = self._pending - self._workers + 1  # this hash included, once all threads are busy
        if waiting > 0 and (
            waiting > self.MAX_WAITING * self._workers
            or waiting * self._seconds_per_hash / self._workers > self._max_wait
        ):
            raise HashingBusy(math.ceil(self._max_wait))

    def _admit(self) -> None:
        with self._lock:
            self._refuse_if_full()
            self._pending += 1

    def check_capacity(self) -> None:
        with self._lock:
            self._refuse_if_full()

    async def _run(self, fn: partial[T]) -> T:
        self._admit()
        try:
            future = self._pool.submit(self._counted, fn)
        except RuntimeError:  # shut down
            self._done()
            raise HashingBusy() from None
        # The count drops when the thread finishes, even if this request is cancelled meanwhile.
        return await asyncio.wrap_future(future)

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def seconds_per_hash(self) -> float:
        return self._seconds_per_hash

    def needs_rehash(self, password_hash: str) -> bool:
        cost = bcrypt_cost(password_hash)
        return cost is not None and cost < self._rounds

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await self._run(partial(bcrypt.hashpw, normalise_password(password).encode("utf-8"), salt))
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str) -> bool:
        raw = normalise_password(password).encode("utf-8")
        if len(raw) > MAX_BYTES:
            return False
        cost = bcrypt_cost(password_hash)
        if cost is not None and MIN_COST <= cost <= MAX_COST:
            self._recent_costs.append(cost)
        try:
            return await self._run(partial(bcrypt.checkpw, raw, password_hash.encode("ascii")))
        except ValueError:  # a corrupt stored hash never authenticates anyone
            return False

    def decoy_cost(self, account: str) -> int:
        """The cost an unknown account is verified at (see the class docstring)."""
        costs = sorted(self._recent_costs)
        if not costs:
            return self._rounds
        pick = int.from_bytes(hashlib.sha256(account.encode("utf-8", "replace")).digest()[:4], "big")
        return costs[pick % len(costs)]

    async def spend_equal_work(self, password: str, account: str = "") -> None:
        decoy = await asyncio.wrap_future(self._decoy(self.decoy_cost(account)))
        await self._run(partial(bcrypt.checkpw, normalise_password(password).encode("utf-8")[:MAX_BYTES], decoy))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
