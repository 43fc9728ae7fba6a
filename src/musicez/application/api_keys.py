"""Admin-managed API keys: created, listed and revoked by an operator."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta

from musicez.application.macs import api_key_hash
from musicez.application.ports import Clock, EventSink, KeyedHasher, RevocationNotifier, SecretGenerator, UnitOfWork
from musicez.domain.api_key import API_KEY_SCOPES, API_KEY_SECRET_BYTES, ApiKey, PresentedKey, display_prefix
from musicez.domain.errors import (
    ApiKeyNotFound,
    FieldError,
    RevocationNotDelivered,
    ServiceUnavailable,
    ValidationFailed,
)
from musicez.domain.events import ApiKeyCreated, ApiKeyRevoked
from musicez.domain.ids import ApiKeyId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.redaction import hide_secrets

NAME_MAX = 100


@hide_secrets
@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: ApiKey
    secret: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class CreateApiKey:
    uow: UnitOfWork
    macs: KeyedHasher
    secrets: SecretGenerator
    clock: Clock
    events: EventSink

    async def execute(
        self,
        name: str,
        rate_limit: RateLimit | None = None,
        expires_in: timedelta | None = None,
        scope: str = "api",
    ) -> CreatedApiKey:
        name = " ".join(name.split())
        if not name or len(name) > NAME_MAX:
            raise ValidationFailed("invalid name", [FieldError("name", f"must be 1 to {NAME_MAX} characters")])
        if scope not in API_KEY_SCOPES:
            raise ValidationFailed(
                "invalid scope", [FieldError("scope", f"must be one of {', '.join(API_KEY_SCOPES)}")]
            )
        now = self.clock.now()
        key_id = ApiKeyId(self.secrets.new_id())
        secret = base64.urlsafe_b64encode(self.secrets.token_bytes(API_KEY_SECRET_BYTES)).decode("ascii")
        key = ApiKey(
            id=key_id,
            name=name,
            prefix=display_prefix(key_id),
            secret_hash=api_key_hash(self.macs, secret),
            created_at=now,
            rate_limit=rate_limit,
            expires_at=now + expires_in if expires_in else None,
            scope=scope,
        )
        async with self.uow:
            await self.uow.api_keys.add(key)
            await self.uow.commit()
        self.events.record(ApiKeyCreated(key_id=str(key.id), prefix=key.prefix, scope=scope))
        return CreatedApiKey(key, PresentedKey(key_id, secret).encode())


@dataclass(frozen=True, slots=True)
class ListApiKeys:
    uow: UnitOfWork

    async def execute(self) -> list[ApiKey]:
        async with self.uow:
            return await self.uow.api_keys.list()


@dataclass(frozen=True, slots=True)
class RevokeApiKey:
    uow: UnitOfWork
    clock: Clock
    events: EventSink
    notifier: RevocationNotifier | None = None  # every server process stops trusting the key before we return

    async def execute(self, key_id: ApiKeyId) -> bool:
        """True when this call revoked the key; False when it already was (nothing changes)."""
        async with self.uow:
            key = await self.uow.api_keys.get(key_id)
            if key is None:
                raise ApiKeyNotFound(f"No API key with id {key_id}")
            newly = key.revoked_at is None
            if newly:
                await self.uow.api_keys.revoke(key_id, self.clock.now())
                await self.uow.commit()
        # Told again even when it already was revoked: a first attempt may have committed and then
        # failed to reach the servers (the repeat is what an operator does then).
        if self.notifier is not None:
            try:
                await self.notifier.api_key_revoked(key_id)
            except ServiceUnavailable as error:  # committed all the same: say so, and what is missing
                if newly:
                    self.events.record(ApiKeyRevoked(key_id=str(key_id)))
                raise RevocationNotDelivered(key_id) from error
        if newly:
            self.events.record(ApiKeyRevoked(key_id=str(key_id)))
        return newly
