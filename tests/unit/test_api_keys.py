"""CreateApiKey, ListApiKeys and RevokeApiKey."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from musicez.domain.api_key import PresentedKey
from musicez.domain.errors import ApiKeyNotFound, RevocationNotDelivered, ServiceUnavailable, ValidationFailed
from musicez.domain.ids import ApiKeyId
from musicez.domain.rate_limit import RateLimit
from tests.support.world import World


async def test_create_stores_only_a_hash_and_shows_the_secret_once(world: World) -> None:
    created = await world.create_api_key.execute(
        "  Recommender   service ", RateLimit(100, "second"), timedelta(days=7)
    )

    parsed = PresentedKey.parse(created.secret)
    assert parsed is not None
    assert parsed.key_id == created.key.id
    stored = await world.list_api_keys.execute()
    assert stored == [created.key]
    key = stored[0]
    assert key.name == "Recommender service"
    assert key.rate_limit == RateLimit(100, "second")
    assert key.expires_at == world.clock.now() + timedelta(days=7)
    assert created.secret.startswith(key.prefix)
    assert parsed.secret not in key.secret_hash
    assert created.secret not in repr(key)
    assert "api_key_created" in world.events.names
    assert all(created.secret not in str(fields) for _, fields in world.events.recorded)


async def test_two_keys_never_share_a_secret(world: World) -> None:
    a = await world.create_api_key.execute("a")
    b = await world.create_api_key.execute("b")
    assert a.secret != b.secret
    assert a.key.id != b.key.id
    assert a.key.secret_hash != b.key.secret_hash


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_a_name_is_required_and_bounded(world: World, name: str) -> None:
    with pytest.raises(ValidationFailed):
        await world.create_api_key.execute(name)
    assert await world.list_api_keys.execute() == []


async def test_revoke_marks_the_key_and_keeps_the_first_time(world: World) -> None:
    created = await world.create_api_key.execute("service")
    revoked_at = world.clock.now()

    await world.revoke_api_key.execute(created.key.id)
    world.clock.advance(60)
    await world.revoke_api_key.execute(created.key.id)

    [key] = await world.list_api_keys.execute()
    assert key.revoked_at == revoked_at
    assert not key.is_usable(world.clock.now())


async def test_revoking_an_unknown_key_is_not_found(world: World) -> None:
    with pytest.raises(ApiKeyNotFound):
        await world.revoke_api_key.execute(ApiKeyId(uuid.uuid4()))


class UnreachableChannel:
    """The revocation channel with Redis down, as the Redis fence reports it."""

    async def api_key_revoked(self, key_id: ApiKeyId) -> None:
        raise ServiceUnavailable("The revocation channel is unavailable")


async def test_a_revocation_the_servers_could_not_be_told_of_says_it_is_revoked_in_the_database(
    world: World,
) -> None:
    created = await world.create_api_key.execute("service")
    revoke = dataclasses.replace(world.revoke_api_key, notifier=UnreachableChannel())

    with pytest.raises(RevocationNotDelivered) as refused:
        await revoke.execute(created.key.id)
    assert isinstance(refused.value, ServiceUnavailable)  # still an outage (HTTP: 503)
    message = str(refused.value)
    assert f"API key {created.key.id} is revoked in the database" in message
    assert "revocation channel (Redis" in message
    assert "Revoke it again" in message
    [key] = await world.list_api_keys.execute()
    assert key.revoked_at is not None  # committed before the channel was tried
    assert "api_key_revoked" in world.events.names

    with pytest.raises(RevocationNotDelivered):  # a repeat still says so, and records nothing new
        await revoke.execute(created.key.id)
    assert world.events.names.count("api_key_revoked") == 1
