"""`World`: every use case from the production container, over one set of in-memory fakes (no
I/O, no framework). A wiring mistake in `musicez.entrypoints.container` or its providers fails
the unit tests too."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import cache
from typing import Any, Protocol

from dishka import AsyncContainer, Provider, Scope, ValidationSettings, make_async_container
from prometheus_client import CollectorRegistry

from musicez.application.account_budget import AccountBudget
from musicez.application.accounts import Credentials, LoginUser, RegisterUser
from musicez.application.activity import BackgroundWork, ListActivity
from musicez.application.admin import DisableUser, EnableUser, ForceLogout, ListUsers, ShowUser
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.devices import DeviceTokens
from musicez.application.introspect import IntrospectToken
from musicez.application.passwords import ChangePassword, RequestPasswordReset, ResetPassword
from musicez.application.policies import RefreshPolicy, ResetPolicy, SessionPolicy, ThrottlePolicy
from musicez.application.ports import AccessTokenCodec, EventSink, KeyedHasher, SessionStore
from musicez.application.security_mail import ReportNotMe
from musicez.application.session_opening import SessionOpener, TokenGrant
from musicez.application.sessions import (
    ListSessions,
    Logout,
    RevokeAllSessions,
    RevokeOtherSessions,
    RevokeSession,
    RotateRefresh,
)
from musicez.application.throttle import FailureBudget, Throttle
from musicez.domain.password_policy import PasswordPolicy
from musicez.domain.rate_limit import RateLimit
from musicez.entrypoints.container import production_providers
from musicez.entrypoints.providers.activity import ActivityProvider
from musicez.entrypoints.settings import Settings
from tests.support.accounts import STRONG_PASSWORD
from tests.support.fake_infrastructure import FakeInfrastructure, Fakes
from tests.support.fakes import FakeUnitOfWork

SERVER_KEY = "k" * 32

# What the unit tests assume beyond the production defaults.
UNIT_SETTINGS: dict[str, Any] = {
    "secret_key": SERVER_KEY,
    "jwt_issuer": "https://auth.test",
    "jwt_audience": "musicez-api",
    "login_rate_limit": RateLimit(3, "minute"),
    "rate_limit": RateLimit(5, "minute"),
    "password_reset_url": "https://app.example/reset",
    "security_url": "https://app.example/not-me",
}


@cache
def _graph(activity: bool) -> AsyncContainer:
    """The production providers and the fakes' provider, built and compiled once a run: each World
    enters its own app scope (its own singletons) with its fakes and settings as that scope's
    context. Nothing lives above the app scope, so there is nothing to close here."""
    overrides: list[Provider] = [FakeInfrastructure()]
    if activity:
        overrides.append(ActivityProvider())
    providers = production_providers(Settings(), CollectorRegistry())  # both replaced per World
    # nothing_overridden: a fake for a type production does not provide would hide a missing factory
    strict = ValidationSettings(nothing_overridden=True)
    return make_async_container(*providers, *overrides, start_scope=Scope.RUNTIME, validation_settings=strict)


class MakeWorld(Protocol):
    async def __call__(self, *, activity: bool = False, **settings: Any) -> World: ...


class World:
    """Every use case as production wires it, on one set of fakes; tests read the fakes to see
    what happened. One World is one app container and one request scope: the request-scoped use
    cases share one `FakeUnitOfWork`, which opens a fresh transaction on every `async with` (so
    calls in turn are independent, as requests are; do not run two of them concurrently)."""

    def __init__(self, fakes: Fakes, stack: AsyncExitStack) -> None:
        self.fakes = fakes
        self._stack = stack
        self.clock = fakes.clock
        self.database = fakes.database
        self.secrets = fakes.secrets
        self.password_hasher = fakes.password_hasher
        self.limiter = fakes.limiter
        self.observer = fakes.observer
        self.mailer = fakes.mailer
        self.events = fakes.events  # what reached the plain sink (under the activity recorder, if any)
        self.usage = fakes.usage

    @classmethod
    async def open(cls, signing_key: str, *, activity: bool = False, **settings: Any) -> World:
        """`activity`: the production `ActivityProvider` again over the fakes, so that the events
        go through the activity recorder (feed, security mails) into `events`. `settings`:
        `Settings` fields over `UNIT_SETTINGS`."""
        fakes = Fakes()
        values = {**UNIT_SETTINGS, "jwt_signing_key": signing_key, **settings}
        stack = AsyncExitStack()
        try:
            app = await stack.enter_async_context(
                _graph(activity)(context={Fakes: fakes, Settings: Settings(**values)})
            )
            request = await stack.enter_async_context(app())
            world = cls(fakes, stack)
            await world._resolve(app, request)
        except BaseException:
            await stack.aclose()
            raise
        return world

    async def close(self) -> None:
        await self._stack.aclose()

    async def _resolve(self, app: AsyncContainer, request: AsyncContainer) -> None:
        self.app, self.request = app, request
        get = request.get
        self.codec = await get(AccessTokenCodec)
        self.macs = await get(KeyedHasher)
        self.password_policy = await get(PasswordPolicy)
        self.sessions = await get(SessionStore)
        self.session_policy = await get(SessionPolicy)
        self.throttle_policy = await get(ThrottlePolicy)
        self.refresh_policy = await get(RefreshPolicy)
        self.reset_policy = await get(ResetPolicy)
        self.event_sink = await get(EventSink)  # the activity recorder, with `activity=True`
        self.background = await get(BackgroundWork)
        self.throttle = await get(Throttle)
        self.failure_budget = self.failures = await get(FailureBudget)
        self.opener = await get(SessionOpener)
        self.budget = await get(AccountBudget)
        self.devices = await get(DeviceTokens)
        # --- use cases ---
        self.register = await get(RegisterUser)
        self.login = await get(LoginUser)
        self.rotate = await get(RotateRefresh)
        self.logout = await get(Logout)
        self.revoke_all = await get(RevokeAllSessions)
        self.revoke_others = await get(RevokeOtherSessions)
        self.revoke_session = await get(RevokeSession)
        self.list_sessions = await get(ListSessions)
        self.authenticate = await get(AuthenticateRequest)
        self.create_api_key = await get(CreateApiKey)
        self.list_api_keys = await get(ListApiKeys)
        self.revoke_api_key = await get(RevokeApiKey)
        self.request_reset = await get(RequestPasswordReset)
        self.reset_password = await get(ResetPassword)
        self.change_password = await get(ChangePassword)
        self.list_users = await get(ListUsers)
        self.show_user = await get(ShowUser)
        self.disable_user = await get(DisableUser)
        self.enable_user = await get(EnableUser)
        self.force_logout = await get(ForceLogout)
        self.introspect = await get(IntrospectToken)
        self.list_activity = await get(ListActivity)
        self.report_not_me = await get(ReportNotMe)
        self._sealed = True

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_sealed", False):  # the use cases were built: a new policy would not reach them
            raise AttributeError(f"World.{name} is wired when the World opens: pass settings to make_world(...)")
        super().__setattr__(name, value)

    def uow(self) -> FakeUnitOfWork:
        """A unit of work of its own on the same database, to look at what was committed."""
        return FakeUnitOfWork(self.database)

    # --- helpers ---

    async def sign_up(
        self, email: str = "listener@example.com", password: str = STRONG_PASSWORD, device: str | None = None
    ) -> TokenGrant:
        return await self.register.execute(Credentials(email, password, client="10.0.0.1", device_name=device))
