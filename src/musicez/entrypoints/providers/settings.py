"""The settings, and each of their groups on its own: a provider asks for the group it needs."""

from __future__ import annotations

from dishka import Provider, Scope, provide
from prometheus_client import CollectorRegistry

from musicez.entrypoints.settings import Settings
from musicez.entrypoints.settings_groups import (
    ActivitySettings,
    DatabaseSettings,
    FenceSettings,
    KeySettings,
    LimitSettings,
    MailSettings,
    PasswordSettings,
    RedisSettings,
    SessionSettings,
)


class SettingsProvider(Provider):
    scope = Scope.APP

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        super().__init__()
        self._settings = settings
        self._registry = registry

    @provide
    def settings(self) -> Settings:
        return self._settings

    @provide
    def metrics_registry(self) -> CollectorRegistry:
        return self._registry

    @provide
    def database(self, settings: Settings) -> DatabaseSettings:
        return settings.database

    @provide
    def redis(self, settings: Settings) -> RedisSettings:
        return settings.redis

    @provide
    def keys(self, settings: Settings) -> KeySettings:
        return settings.keys

    @provide
    def sessions(self, settings: Settings) -> SessionSettings:
        return settings.sessions

    @provide
    def passwords(self, settings: Settings) -> PasswordSettings:
        return settings.passwords

    @provide
    def mail(self, settings: Settings) -> MailSettings:
        return settings.mail

    @provide
    def limits(self, settings: Settings) -> LimitSettings:
        return settings.limits

    @provide
    def activity(self, settings: Settings) -> ActivitySettings:
        return settings.activity

    @provide
    def fence(self, settings: Settings) -> FenceSettings:
        return settings.fence
