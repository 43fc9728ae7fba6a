"""Profile the app in-process: ASGI calls straight into the app (no server, no sockets).

    uv run python bench/profile_app.py [--n 5000] [--rounds 1] [--profile] [--route live|me_jwt|me_key|refresh]
                                       [--concurrency 1]

--concurrency C runs C requests at a time (each `refresh` on its own session's chain), as a
server under load does: what shares round trips then (a rotation's Redis call) shows.

Uses embedded SQLite and the local Redis (MUSICEZ_REDIS_URL or redis://127.0.0.1:6379/0)
under a throwaway prefix; prints µs per request and, with --profile, the top of cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar import Litestar
from redis.asyncio import Redis

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.settings import Settings

PASSWORD = "Quartz-Lemon-Violin-42"


def scope_for(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope_for(method, path, headers), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, payload


def refresh_body(chain: list[str]) -> bytes:
    return json.dumps({"refresh_token": chain[0]}).encode()


@contextlib.asynccontextmanager
async def registered_app(**settings: Any) -> AsyncIterator[tuple[Litestar, dict[str, Any]]]:
    """The app on embedded SQLite and the local Redis under a throwaway prefix, started, with one
    user registered: yields the app and the registration's answer. Its Redis keys go afterwards."""
    prefix = f"mez-prof-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("MUSICEZ_REDIS_URL", "redis://127.0.0.1:6379/0")
    app: Litestar = create_app(
        settings=Settings.from_env(
            environ={},
            data_dir=tempfile.mkdtemp(prefix="musicez-prof-"),
            redis_url=redis_url,
            redis_prefix=prefix,
            bcrypt_rounds=4,
            log_level="WARNING",
            **settings,
        )
    )
    try:
        async with app.lifespan():
            status, body = await call(
                app,
                "POST",
                "/auth/register",
                [(b"content-type", b"application/json")],
                json.dumps({"email": f"p-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}).encode(),
            )
            assert status == 201, body
            yield app, json.loads(body)
    finally:
        client = Redis.from_url(redis_url)
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def more_refresh_tokens(app: Litestar, grant: dict[str, Any], count: int) -> list[str]:
    """`count` more sessions of the registered user, opened by the `SessionOpener` login uses."""
    if count <= 0:
        return []
    from musicez.application.ports import UnitOfWork
    from musicez.application.session_opening import SessionOpener
    from musicez.domain.ids import UserId

    async with app.state.musicez.container() as scope:
        opener = await scope.get(SessionOpener)
        uow = await scope.get(UnitOfWork)
        async with uow:
            user = await uow.users.get(UserId(uuid.UUID(grant["user"]["id"])))
    assert user is not None
    return [(await opener.open(user, "profile")).refresh_token for _ in range(count)]


async def api_key(app: Litestar) -> str:
    """A key made by the use case `musicez api-keys create` runs, through the app's own container."""
    from musicez.application.api_keys import CreateApiKey

    async with app.state.musicez.container() as scope:
        created = await (await scope.get(CreateApiKey)).execute("profile", None, None)
    return str(created.secret)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--route", default="all")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    async with registered_app(rate_limit="1000000/minute", refresh_session_limit="1000000/minute") as (app, grant):
        token = grant["access_token"]
        chain = [grant["refresh_token"]]  # the refresh route rotates this chain, one link a call
        chains = [chain, *[[token] for token in await more_refresh_tokens(app, grant, args.concurrency - 1)]]
        key = await api_key(app)
        routes = {
            "live": ("GET", "/health/live", []),
            "me_jwt": ("GET", "/auth/me", [(b"authorization", f"Bearer {token}".encode())]),
            "me_key": ("GET", "/auth/me", [(b"x-api-key", key.encode())]),
            "refresh": ("POST", "/auth/refresh", [(b"content-type", b"application/json")]),
        }
        for name, (method, path, headers) in routes.items():
            if args.route not in ("all", name):
                continue
            for _ in range(200):
                if name == "refresh":
                    _, answer = await call(app, method, path, headers, refresh_body(chain))
                    chain[0] = json.loads(answer)["refresh_token"]
                else:
                    await call(app, method, path, headers)
        best: dict[str, float] = {}
        for _ in range(args.rounds):  # interleaved rounds, the best of each: a shared host's noise only adds
            for name, (method, path, headers) in routes.items():
                if args.route not in ("all", name):
                    continue
                profiler = cProfile.Profile() if args.profile else None
                cpu_started = time.process_time()
                if profiler:
                    profiler.enable()
                for _ in range(args.n // len(chains)):
                    if name == "refresh":
                        answers = await asyncio.gather(
                            *(call(app, method, path, headers, refresh_body(c)) for c in chains)
                        )
                        for c, (_, body) in zip(chains, answers, strict=True):
                            c[0] = json.loads(body)["refresh_token"]
                        status = answers[-1][0]
                    else:
                        answers = await asyncio.gather(*(call(app, method, path, headers) for _ in chains))
                        status, body = answers[-1]
                if profiler:
                    profiler.disable()
                cpu = (time.process_time() - cpu_started) / (args.n // len(chains) * len(chains)) * 1e6
                best[name] = min(best.get(name, cpu), cpu)
                if profiler and os.environ.get("PROFILE_OUT"):
                    profiler.dump_stats(f"{os.environ['PROFILE_OUT']}.{name}")
                if profiler:
                    sort = os.environ.get("PROFILE_SORT", "tottime")
                    pstats.Stats(profiler).sort_stats(sort).print_stats(int(os.environ.get("PROFILE_LINES", "30")))
        for name, cpu in best.items():
            print(f"{name}: {cpu:.1f} µs CPU/request (best of {args.rounds}; status {status})")


if __name__ == "__main__":
    asyncio.run(main())
