"""The use cases from the production container over in-memory fakes: no I/O, no framework."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from musicez.adapters.security.keys import generate_private_pem
from tests.support.world import MakeWorld, World


@pytest.fixture(scope="session")
def signing_key() -> str:
    """The JWT signing key of every World of the run (the settings' `jwt_signing_key`)."""
    return generate_private_pem("EdDSA")


@pytest.fixture
async def make_world(signing_key: str) -> AsyncIterator[MakeWorld]:
    """Worlds with other settings (`refresh_reuse_grace=0`, ...) or the activity recorder;
    each is closed after the test."""
    opened: list[World] = []

    async def make(*, activity: bool = False, **settings: Any) -> World:
        world = await World.open(signing_key, activity=activity, **settings)
        opened.append(world)
        return world

    yield make
    for world in reversed(opened):
        await world.close()


@pytest.fixture
async def world(make_world: MakeWorld) -> World:
    return await make_world()
