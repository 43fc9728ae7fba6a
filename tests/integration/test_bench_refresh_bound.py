"""The benchmark's refresh bound (`bench/bare_app.py`, row `refresh_bound`) does what its row
claims: it takes `POST /auth/refresh`'s request, makes one Redis write (the presented token's
hash now holds its successor's), signs one access token, and answers the service's own grant."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import jwt
import pytest
from bench.bare_app import create
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from musicez.entrypoints.http.schemas.auth import TokenResponse


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).hexdigest().encode()


async def test_the_bound_swaps_one_key_and_answers_the_services_grant(
    redis_url: str, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"{redis_prefix}-bound"
    for name in [n for n in os.environ if n.startswith("MUSICEZ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MUSICEZ_REDIS_URL", redis_url)
    monkeypatch.setenv("MUSICEZ_REDIS_PREFIX", prefix)
    monkeypatch.setenv("MUSICEZ_DATA_DIR", str(tmp_path))
    redis = Redis.from_url(redis_url)
    try:
        async with AsyncTestClient(create()) as http:
            first = await http.post("/bench/refresh-bound", json={"refresh_token": "presented"})
            assert first.status_code == 200, first.text
            grant = first.json()
            # The fields of the service's grant, as `/auth/refresh` answers them (no device token)
            assert set(grant) == set(TokenResponse.__struct_fields__) - {"device_token"}
            assert grant["token_type"] == "Bearer"
            header = jwt.get_unverified_header(grant["access_token"])
            assert (header["alg"], header["typ"]) == ("EdDSA", "at+jwt")

            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            assert keys == [f"{prefix}:bench-bound:".encode() + _digest("presented")]
            assert await redis.get(keys[0]) == _digest(grant["refresh_token"])

            bad = await http.post("/bench/refresh-bound", json={"token": "presented"})
            assert bad.status_code == 400
    finally:
        async for key in redis.scan_iter(match=f"{prefix}:*"):
            await redis.delete(key)
        await redis.aclose()
