"""The use cases wired to in-memory fakes: no I/O, no framework."""

from __future__ import annotations

import pytest

from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.adapters.security.keys import KeyRing, asymmetric_ring, generate_private_pem
from tests.support.world import World


@pytest.fixture(scope="session")
def codec_keys() -> KeyRing:
    return asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA")


@pytest.fixture
def world(codec_keys: KeyRing) -> World:
    codec = JwtCodec(codec_keys, TokenSettings(issuer="https://auth.test", audience="musicez-api", ttl_seconds=900))
    return World(codec)
