"""`ScriptBatch` on real Redis and on the 3-master Cluster: calls that coincide share round trips,
and every caller still gets its own reply, its own error, or its own cancellation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from musicez.adapters.redis.batching import ScriptBatch
from musicez.adapters.redis.client import AnyRedis, connect

# Counts each call in its own key (so Redis shows which calls ran) and echoes its tag; a call
# whose second argument says so fails with a script error instead.
ECHO = """
if ARGV[2] == 'fail' then return redis.error_reply('ERR asked to fail') end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 60000)
return ARGV[1]
"""


@pytest.fixture
def loop(event_loop_for_hypothesis: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """The test's own loop (Hypothesis drives it example by example)."""
    return event_loop_for_hypothesis


@pytest.fixture(params=["redis", "redis-cluster"])
def client(request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop) -> Iterator[AnyRedis]:
    url = request.getfixturevalue("redis_cluster_url" if request.param == "redis-cluster" else "redis_url")

    async def connected() -> AnyRedis:  # a cluster client binds to the loop it starts on
        made = connect(url)
        await made.ping()
        return made

    made = loop.run_until_complete(connected())
    try:
        yield made
    finally:
        loop.run_until_complete(made.aclose())


class CountingPipelines:
    """Records the length of every pipeline the batch sends (and every single call)."""

    def __init__(self, batch: ScriptBatch, client: AnyRedis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real_pipeline, real_call = client.pipeline, type(batch.script).__call__
        sizes = self.sizes

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = real_pipeline(*args, **kwargs)
            real_execute = pipe.execute

            async def execute(*a: Any, **k: Any) -> Any:
                sizes.append(len(pipe))
                return await real_execute(*a, **k)

            pipe.execute = execute  # type: ignore[method-assign]
            return pipe

        async def single(script: Any, *args: Any, **kwargs: Any) -> Any:
            if script is batch.script and kwargs.get("client") is None:
                sizes.append(1)
            return await real_call(script, *args, **kwargs)

        monkeypatch.setattr(client, "pipeline", pipeline)
        monkeypatch.setattr(type(batch.script), "__call__", single)


def keys_of(run: str, i: int) -> list[str]:
    return [f"batch-test:{{{run}:{i}}}"]  # one slot per caller: a Cluster pipeline spans masters


# One caller: when it arrives (loop turns after the start), whether its script fails, and whether
# it is cancelled (never, before it is sent, or while its round trip is in flight).
CALLER = st.tuples(st.integers(0, 3), st.booleans(), st.sampled_from(["keep", "keep", "keep", "early", "late"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(callers=st.lists(CALLER, min_size=1, max_size=70), max_batch=st.integers(1, 40))
def test_every_caller_gets_its_own_answer(
    loop: asyncio.AbstractEventLoop, client: AnyRedis, callers: list[tuple[int, bool, str]], max_batch: int
) -> None:
    run = uuid.uuid4().hex[:10]
    batch = ScriptBatch(client, client.register_script(ECHO), max_batch=max_batch)

    async def one(i: int, delay: int, fails: bool) -> Any:
        for _ in range(delay):
            await asyncio.sleep(0)
        return await batch(keys_of(run, i), [f"tag-{i}", "fail" if fails else "ok"])

    async def scenario() -> list[Any]:
        tasks = [loop.create_task(one(i, delay, fails)) for i, (delay, fails, _) in enumerate(callers)]
        await asyncio.sleep(0)
        for task, (_, _, cancel) in zip(tasks, callers, strict=True):
            if cancel == "early":
                task.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for task, (_, _, cancel) in zip(tasks, callers, strict=True):
            if cancel == "late":
                task.cancel()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)

    outcomes = loop.run_until_complete(scenario())

    for i, ((_, fails, cancel), outcome) in enumerate(zip(callers, outcomes, strict=True)):
        if cancel != "keep" and isinstance(outcome, asyncio.CancelledError):
            continue  # cancelled before its answer: it may or may not have run, as a call alone
        if fails:
            assert isinstance(outcome, ResponseError), (i, outcome)
            assert "asked to fail" in str(outcome)
        else:
            assert outcome == f"tag-{i}".encode(), (i, outcome)

    async def counts() -> list[Any]:
        return [await client.get(keys_of(run, i)[0]) for i in range(len(callers))]

    for (_, fails, cancel), count in zip(callers, loop.run_until_complete(counts()), strict=True):
        if fails:
            assert count is None  # a failing call changes nothing
        elif cancel == "keep":
            assert count == b"1"  # each call ran exactly once
        else:
            assert count in (None, b"1")  # never twice
    # The batch is idle again: a later call is sent on its own and answered.
    assert loop.run_until_complete(batch(keys_of(run, 999), ["after", "ok"])) == b"after"


def test_calls_that_coincide_share_round_trips(
    loop: asyncio.AbstractEventLoop, client: AnyRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:10]
    batch = ScriptBatch(client, client.register_script(ECHO), max_batch=32)
    loop.run_until_complete(batch(keys_of(run, -1), ["warm", "ok"]))  # loads the script
    counted = CountingPipelines(batch, client, monkeypatch)

    async def many() -> list[Any]:
        return await asyncio.gather(*(batch(keys_of(run, i), [f"tag-{i}", "ok"]) for i in range(100)))

    replies = loop.run_until_complete(many())

    assert replies == [f"tag-{i}".encode() for i in range(100)]
    # All 100 arrive in the loop turn before the batch's sender runs: pipelines of at most 32.
    assert counted.sizes == [32, 32, 32, 4]


def test_a_lone_call_is_sent_at_once_on_its_own(
    loop: asyncio.AbstractEventLoop, client: AnyRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:10]
    batch = ScriptBatch(client, client.register_script(ECHO))
    counted = CountingPipelines(batch, client, monkeypatch)

    for i in range(3):
        assert loop.run_until_complete(batch(keys_of(run, i), [f"tag-{i}", "ok"])) == f"tag-{i}".encode()

    assert counted.sizes == [1, 1, 1]


def test_the_script_is_loaded_again_after_a_flush(loop: asyncio.AbstractEventLoop, client: AnyRedis) -> None:
    run = uuid.uuid4().hex[:10]
    batch = ScriptBatch(client, client.register_script(ECHO))
    assert loop.run_until_complete(batch(keys_of(run, -1), ["warm", "ok"])) == b"warm"
    loop.run_until_complete(client.script_flush())  # a restart, or an operator

    async def many() -> list[Any]:
        return await asyncio.gather(*(batch(keys_of(run, i), [f"tag-{i}", "ok"]) for i in range(20)))

    assert loop.run_until_complete(many()) == [f"tag-{i}".encode() for i in range(20)]


def test_a_failed_round_trip_fails_each_of_its_callers_and_the_next_calls_are_sent_again(
    loop: asyncio.AbstractEventLoop,
) -> None:
    client = connect("redis://127.0.0.1:1/0")  # nothing listens there
    batch = ScriptBatch(client, client.register_script(ECHO))

    async def many() -> list[Any]:
        calls = (batch([f"k{i}"], [f"tag-{i}", "ok"]) for i in range(10))
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)

    try:
        for _ in range(2):  # not stuck after a failure: the next calls fail as promptly
            outcomes = loop.run_until_complete(many())
            assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
    finally:
        loop.run_until_complete(client.aclose())


def test_a_loop_shut_down_mid_call_leaves_the_batch_ready_for_the_next(redis_url: str) -> None:
    """A process that runs a loop and shuts it down with calls in flight (a CLI command, a test),
    then starts another, is served on the next: the shutdown cancels the calls and the sender."""
    client = connect(redis_url)
    batch = ScriptBatch(client, client.register_script(ECHO))
    run = uuid.uuid4().hex[:10]
    started: list[asyncio.Task[Any]] = []

    async def leave_calls_in_flight() -> None:
        started.extend(
            asyncio.get_running_loop().create_task(batch(keys_of(run, i), ["first", "ok"])) for i in range(40)
        )
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first pipeline is on its way: asyncio.run cancels what is left

    async def some(tag: str) -> list[Any]:
        try:
            calls = (batch(keys_of(run, i), [tag, "ok"]) for i in range(5))
            return await asyncio.wait_for(asyncio.gather(*calls), 10)
        finally:
            await client.aclose()

    asyncio.run(leave_calls_in_flight())
    assert len(started) == 40
    assert all(task.done() for task in started)
    assert asyncio.run(some("second")) == [b"second"] * 5
