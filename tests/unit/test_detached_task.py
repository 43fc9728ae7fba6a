"""Tasks that serve the whole process (the fence's channel and its outbox) start from whichever
request first needed them; they must not carry that request's id in every line they log."""

from __future__ import annotations

import asyncio
import contextvars

import structlog

from musicez.adapters.system import detached_task

REQUEST = contextvars.ContextVar("request", default="none")


async def test_a_detached_task_sees_none_of_the_context_it_was_started_from() -> None:
    REQUEST.set("req-1234")
    structlog.contextvars.bind_contextvars(request_id="req-1234")  # what a log line would carry
    seen: list[tuple[str, dict[str, object]]] = []

    async def work() -> None:
        seen.append((REQUEST.get(), structlog.contextvars.get_contextvars()))

    try:
        await asyncio.gather(detached_task(work(), "test"), asyncio.get_running_loop().create_task(work()))
    finally:
        structlog.contextvars.clear_contextvars()
    # the detached one, and what a plain task would have seen
    assert seen == [("none", {}), ("req-1234", {"request_id": "req-1234"})]
