"""bcrypt in worker threads: hashing never blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import bcrypt

from musicez.domain.password_policy import MAX_BYTES, normalise_password

T = TypeVar("T")


def _lower_priority() -> None:
    """Hashing threads yield the CPU to request handling: a login storm must not slow
    every other route (Linux applies a thread's nice value to that thread alone)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class BcryptHasher:
    def __init__(self, rounds: int, threads: int | None = None) -> None:
        self._rounds = rounds
        self._pool = ThreadPoolExecutor(
            max_workers=threads or os.cpu_count() or 1, thread_name_prefix="bcrypt", initializer=_lower_priority
        )
        # Verified against when the account does not exist, so both paths cost the same.
        # Made in the pool, like every hash: never on the event loop.
        self._decoy = self._pool.submit(bcrypt.hashpw, b"decoy password for unknown accounts", bcrypt.gensalt(rounds))

    async def _run(self, fn: partial[T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await self._run(partial(bcrypt.hashpw, normalise_password(password).encode("utf-8"), salt))
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str) -> bool:
        raw = normalise_password(password).encode("utf-8")
        if len(raw) > MAX_BYTES:
            return False
        try:
            return await self._run(partial(bcrypt.checkpw, raw, password_hash.encode("ascii")))
        except ValueError:  # a corrupt stored hash never authenticates anyone
            return False

    async def spend_equal_work(self, password: str) -> None:
        decoy = await asyncio.wrap_future(self._decoy)
        await self._run(partial(bcrypt.checkpw, normalise_password(password).encode("utf-8")[:MAX_BYTES], decoy))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
