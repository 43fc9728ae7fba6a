"""FlushApiKeyUsage: the noted last-used times written in one batch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from musicez.application.api_key_usage import FlushApiKeyUsage
from musicez.domain.ids import ApiKeyId
from tests.support.world import World


class Buffer:
    def __init__(self) -> None:
        self.pending: dict[ApiKeyId, datetime] = {}
        self.drains = 0

    def drain(self) -> Mapping[ApiKeyId, datetime]:
        self.drains += 1
        pending, self.pending = self.pending, {}
        return pending


async def test_the_noted_times_are_written_once(world: World) -> None:
    created = await world.create_api_key.execute("service")
    buffer = Buffer()
    used_at = world.clock.now()
    buffer.pending[created.key.id] = used_at

    assert await FlushApiKeyUsage(buffer, world.uow()).execute() == 1
    [key] = await world.list_api_keys.execute()
    assert key.last_used_at == used_at
    assert buffer.pending == {}
    assert await FlushApiKeyUsage(buffer, world.uow()).execute() == 0  # nothing noted since


async def test_nothing_noted_opens_no_transaction(world: World) -> None:
    class NoUnitOfWork:
        async def __aenter__(self) -> None:
            raise AssertionError("no transaction for nothing")

    buffer = Buffer()
    assert await FlushApiKeyUsage(buffer, NoUnitOfWork()).execute() == 0  # type: ignore[arg-type]
    assert buffer.drains == 1


async def test_a_later_use_is_kept_over_an_earlier_one(world: World) -> None:
    created = await world.create_api_key.execute("service")
    buffer = Buffer()
    first = world.clock.now()
    buffer.pending[created.key.id] = first
    await FlushApiKeyUsage(buffer, world.uow()).execute()
    world.clock.advance(60)
    buffer.pending[created.key.id] = world.clock.now()
    await FlushApiKeyUsage(buffer, world.uow()).execute()
    [key] = await world.list_api_keys.execute()
    assert key.last_used_at == world.clock.now()
