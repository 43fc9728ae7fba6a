"""The composition root: the container, from the settings to adapters (`providers/`) and the
use cases (here)."""

from __future__ import annotations

from dishka import AsyncContainer, Provider, Scope, make_async_container, provide
from prometheus_client import CollectorRegistry

from musicez.application.account_budget import AccountBudget
from musicez.application.accounts import LoginUser, RegisterUser
from musicez.application.admin import DisableUser, EnableUser, ForceLogout, ListUsers, ShowUser
from musicez.application.api_key_usage import FlushApiKeyUsage
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.application.authenticate import AuthenticateApiKey, AuthenticateBearer, AuthenticateRequest
from musicez.application.devices import DeviceTokens
from musicez.application.health import CheckHealth
from musicez.application.introspect import IntrospectToken
from musicez.application.passwords import (
    AcceptPasswordResetRequest,
    ChangePassword,
    RequestPasswordReset,
    ResetPassword,
)
from musicez.application.ports import EventSink, PrincipalRateLimiter, RateObserver
from musicez.application.session_opening import SessionOpener
from musicez.application.sessions import (
    ListSessions,
    Logout,
    RevokeAllSessions,
    RevokeOtherSessions,
    RevokeSession,
    RotateRefresh,
)
from musicez.application.throttle import FailureBudget, PrincipalThrottle, Throttle
from musicez.entrypoints.providers.activity import ActivityProvider, FenceProvider
from musicez.entrypoints.providers.security import SecurityProvider, ServicesProvider
from musicez.entrypoints.providers.settings import SettingsProvider
from musicez.entrypoints.providers.storage import DatabaseProvider, RedisProvider
from musicez.entrypoints.settings import Settings


class UseCaseProvider(Provider):
    """Use cases: app-wide where they hold no per-request state, per request otherwise."""

    scope = Scope.APP

    opener = provide(SessionOpener)
    throttle = provide(Throttle)
    failure_budget = provide(FailureBudget)
    authenticate_bearer = provide(AuthenticateBearer)
    authenticate_api_key = provide(AuthenticateApiKey)
    authenticate = provide(AuthenticateRequest)
    rotate = provide(RotateRefresh)
    logout = provide(Logout)
    revoke_all = provide(RevokeAllSessions)
    revoke_others = provide(RevokeOtherSessions)
    revoke_one = provide(RevokeSession)
    list_sessions = provide(ListSessions)
    health = provide(CheckHealth)
    accept_reset = provide(AcceptPasswordResetRequest)
    account_budget = provide(AccountBudget)
    device_tokens = provide(DeviceTokens)

    @provide
    def principal_throttle(
        self, limiter: PrincipalRateLimiter, observer: RateObserver, events: EventSink
    ) -> PrincipalThrottle:
        return PrincipalThrottle(limiter, observer, events)

    register = provide(RegisterUser, scope=Scope.REQUEST)
    login = provide(LoginUser, scope=Scope.REQUEST)
    create_key = provide(CreateApiKey, scope=Scope.REQUEST)
    flush_usage = provide(FlushApiKeyUsage, scope=Scope.REQUEST)
    list_keys = provide(ListApiKeys, scope=Scope.REQUEST)
    revoke_key = provide(RevokeApiKey, scope=Scope.REQUEST)
    request_reset = provide(RequestPasswordReset, scope=Scope.REQUEST)
    reset = provide(ResetPassword, scope=Scope.REQUEST)
    change_password = provide(ChangePassword, scope=Scope.REQUEST)
    # account administration (v1.1, issue 14) and resource servers (issue 17)
    list_users = provide(ListUsers, scope=Scope.REQUEST)
    show_user = provide(ShowUser, scope=Scope.REQUEST)
    disable_user = provide(DisableUser, scope=Scope.REQUEST)
    enable_user = provide(EnableUser, scope=Scope.REQUEST)
    force_logout = provide(ForceLogout, scope=Scope.REQUEST)
    introspect = provide(IntrospectToken)


def production_providers(settings: Settings, registry: CollectorRegistry) -> list[Provider]:
    """Every provider of the service, in order: a later one's factory for a type replaces an
    earlier one's, and a decorator wraps what the providers before it give."""
    return [
        SettingsProvider(settings, registry),
        DatabaseProvider(),
        RedisProvider(),
        SecurityProvider(),
        ServicesProvider(),
        UseCaseProvider(),
        ActivityProvider(),
        FenceProvider(),
    ]


def build_container(settings: Settings, registry: CollectorRegistry, *overrides: Provider) -> AsyncContainer:
    """Later providers win: tests pass overrides for any port."""
    return make_async_container(*production_providers(settings, registry), *overrides)
