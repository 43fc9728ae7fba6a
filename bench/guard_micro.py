# ruff: noqa: SLF001, PLW0108  (a measuring tool: it times the guard's private pieces one by one)
"""Time the guard alone, in-process: the `before_request` hook of `/auth/me` on a cached JWT,
driven synchronously (it completes without suspending), and its pieces.

    uv run python bench/guard_micro.py [--n 100000] [--rounds 5]

Uses embedded SQLite and the local Redis (MUSICEZ_REDIS_URL or redis://127.0.0.1:6379/0) under
a throwaway prefix. Prints the best-of-rounds ns per call: a way to compare sub-microsecond
changes that a whole request (or wrk) cannot resolve.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from litestar import Request
from profile_app import call, registered_app, scope_for

from musicez.entrypoints.http import guard, hooks
from musicez.entrypoints.http.state import of_app


class Suspended(Exception):
    """The call waited for I/O (a lease, the fence): not the cached path; its batch is dropped."""


def drive(coroutine: Any) -> None:
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise Suspended


# Calls timed between two yields to the loop: fewer than a leased chunk of the rate limit (whose
# next chunk comes back in the background) and well inside the fence's lease (a batch that
# suspends anyway is dropped).
BATCH = int(os.environ.get("GUARD_BATCH", "1000"))


async def mean_ns(fn: Callable[[], Any], n: int) -> float:
    """Mean time of `n` calls, run in batches that yield to the loop between them, so the fence's
    pings come back and leased units refill (as between requests on a server)."""
    spent = calls = 0
    while calls < n:
        await asyncio.sleep(0.001)
        started = time.perf_counter_ns()
        try:
            for _ in range(BATCH):
                fn()
        except Suspended:
            continue
        spent += time.perf_counter_ns() - started
        calls += BATCH
    return spent / calls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # a lease per ~7,500 calls: the timed batches run on held units
    async with registered_app(rate_limit="1000000000/minute", rate_lease_max_chunk=10_000) as (app, grant):
        token = grant["access_token"]
        headers = [(b"authorization", f"Bearer {token}".encode())]
        for _ in range(100):  # warm: the session cached, the fence trusted, units held
            assert (await call(app, "GET", "/auth/me", headers))[0] == 200
            await asyncio.sleep(0.001)
        route = next(r for r in app.routes if r.path == "/auth/me")
        handler = next(h for h in route.route_handlers if "GET" in h.http_methods)
        hook = handler.before_request
        state = of_app(app)
        scope = scope_for("GET", "/auth/me", headers)
        scope["app"] = app
        scope["route_handler"] = handler
        request: Request[Any, Any, Any] = Request(scope)
        bearer = state.authenticate.bearer
        plan = hooks._plan_of(handler)
        authorization = f"Bearer {token}"
        claims = bearer.codec.verify(token)
        sessions = bearer.sessions
        throttle = state.authenticate.throttle
        limit = state.authenticate.throttle_policy.per_principal
        fence = sessions._fence
        key = (claims.user_id, claims.session_id)
        principal = bearer.execute_nowait(token)
        assert principal is not None
        decision = throttle.limiter.hit_nowait(principal.rate_key, limit)
        pieces: dict[str, Callable[[], Any]] = {
            "hook (whole guard)": lambda: drive(hook(request)),
            "  _run_plan": lambda: hooks._run_plan(request, plan, state),
            "  require_credentials": lambda: guard.require_credentials(request, plan.guard, state),
            "  _credential_headers": lambda: guard._credential_headers(scope),
            "  _parse_bearer": lambda: guard._parse_bearer(authorization),
            "AuthenticateRequest.execute": lambda: drive(state.authenticate.execute(token, None, None)),
            "AuthenticateRequest.execute_nowait": lambda: state.authenticate.execute_nowait(token, None, None),
            "bearer.execute_nowait": lambda: bearer.execute_nowait(token),
            "codec.verify": lambda: bearer.codec.verify(token),
            "sessions.cached": lambda: sessions.cached(claims.user_id, claims.session_id),
            "throttle.hit_nowait": lambda: throttle.hit_nowait(principal.rate_key, limit),
            "  fence.trusted": lambda: fence.trusted(time.monotonic()),
            "  channel.start": lambda: sessions._channel.start(),
            "  cache.get": lambda: fence.sessions.get(key),
            "  clock.now": lambda: sessions._clock.now(),
            "  limiter.hit_nowait": lambda: throttle.limiter.hit_nowait(principal.rate_key, limit),
            "  throttle again": lambda: throttle.hit_nowait(principal.rate_key, limit),
            "  observer.observe": lambda: throttle.observer.observe(decision),
        }
        only = os.environ.get("GUARD_ONLY")
        chosen = {name: fn for name, fn in pieces.items() if not only or only in name}
        best = dict.fromkeys(chosen, float("inf"))
        for _ in range(args.rounds):  # interleaved, the best of each: the host's noise only adds
            for name, fn in chosen.items():
                best[name] = min(best[name], await mean_ns(fn, args.n))
        for name, ns in best.items():
            print(f"{name:36} {ns:8.0f} ns")


if __name__ == "__main__":
    asyncio.run(main())
