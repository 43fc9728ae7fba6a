"""The system clock, the operating system's randomness, and tasks that outlive a request."""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from uuid_utils.compat import uuid7


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OsSecrets:
    def token_bytes(self, size: int) -> bytes:
        return secrets.token_bytes(size)

    def new_id(self) -> uuid.UUID:
        return uuid7()


def detached_task(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A task that serves the whole process, started from whatever request first needed it: it
    runs in a context of its own, so its log lines carry no request id (a task copies the
    context it is created in, and would tag every line it logs for hours with that request's)."""
    return asyncio.get_running_loop().create_task(work, name=name, context=contextvars.Context())
