"""Redis key names say which limit a counter is, never whose: no email and no client address in
them (issue 17), and the key prefix is not repeated."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from tests.support.accounts import STRONG_PASSWORD, unique_email


async def test_rate_limit_keys_hold_no_email_or_address(client: AsyncTestClient[Litestar], redis_url: str) -> None:
    prefix = client.app.state.musicez.settings.redis_prefix
    email = unique_email("keys")
    await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    for _ in range(2):
        await client.post("/auth/login", json={"email": email, "password": "Wrong-" + STRONG_PASSWORD})
    await client.post("/auth/password/forgot", json={"email": email})
    redis = Redis.from_url(redis_url)
    try:
        names = [key.decode() async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    finally:
        await redis.aclose()
    limit_keys = [name for name in names if name.startswith(f"{prefix}:rl")]
    assert any("login-failures:" in name for name in limit_keys), names  # the counters are there...
    for name in limit_keys:  # ...under names that say which limit, not whose
        assert email.split("@")[0] not in name, name
        assert "testclient" not in name, name
        assert name.count(f"{prefix}:rl") == 1, name
