"""`World`: every use case wired to one set of in-memory fakes (no I/O, no framework)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.security.jwt_codec import JwtCodec
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.application.account_budget import AccountBudget
from musicez.application.accounts import Credentials, LoginUser, RegisterUser
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.application.authenticate import AuthenticateApiKey, AuthenticateBearer, AuthenticateRequest
from musicez.application.devices import DeviceTokens
from musicez.application.grants import SessionOpener, TokenGrant
from musicez.application.passwords import ChangePassword, RequestPasswordReset, ResetPassword
from musicez.application.policy import RefreshPolicy, ResetPolicy, SessionPolicy, ThrottlePolicy
from musicez.application.sessions import (
    ListSessions,
    Logout,
    RevokeAllSessions,
    RevokeOtherSessions,
    RevokeSession,
    RotateRefresh,
)
from musicez.application.throttle import FailureBudget, PrincipalThrottle, Throttle
from musicez.domain.password_policy import PasswordPolicy
from musicez.domain.rate_limit import RateLimit
from tests.support.accounts import STRONG_PASSWORD
from tests.support.fakes import (
    FakeApiKeyLookup,
    FakeClock,
    FakeDatabase,
    FakeEvents,
    FakeMailer,
    FakePasswordHasher,
    FakeRateLimiter,
    FakeRateObserver,
    FakeSecrets,
    FakeUnitOfWork,
    FakeUsageRecorder,
)

COMMON_PASSWORDS = frozenset({"password1234", "qwertyuiop12"})
SERVER_KEY = b"k" * 32


@dataclass
class World:
    """Every use case on one set of fakes; tests read the fakes to see what happened."""

    codec: JwtCodec
    clock: FakeClock = field(default_factory=lambda: FakeClock(datetime.now(UTC).replace(microsecond=0)))
    database: FakeDatabase = field(default_factory=FakeDatabase)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    passwords: FakePasswordHasher = field(default_factory=FakePasswordHasher)
    limiter: FakeRateLimiter = field(default_factory=FakeRateLimiter)
    observer: FakeRateObserver = field(default_factory=FakeRateObserver)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    events: FakeEvents = field(default_factory=FakeEvents)
    usage: FakeUsageRecorder = field(default_factory=FakeUsageRecorder)
    session_policy: SessionPolicy = field(default_factory=lambda: SessionPolicy(refresh_reuse_grace=10))
    limits: ThrottlePolicy = field(
        default_factory=lambda: ThrottlePolicy(
            login_failures=RateLimit(3, "minute"), per_principal=RateLimit(5, "minute")
        )
    )
    refresh_policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    reset_policy: ResetPolicy = field(default_factory=lambda: ResetPolicy(reset_url="https://app.example/reset"))

    def __post_init__(self) -> None:
        self.hasher = HmacHasher(SERVER_KEY)
        self.policy = PasswordPolicy(COMMON_PASSWORDS)
        self.sessions = MemorySessionStore(self.clock)
        self.throttle = Throttle(self.limiter, self.observer, self.events)
        self.failure_budget = FailureBudget(self.throttle, self.clock)
        self.failures = FailureBudget(self.throttle, self.clock)

    @property
    def opener(self) -> SessionOpener:
        return SessionOpener(self.sessions, self.codec, self.hasher, self.secrets, self.clock, self.session_policy)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.database)

    # --- use cases ---

    @property
    def register(self) -> RegisterUser:
        return RegisterUser(
            self.uow(),
            self.passwords,
            self.policy,
            self.opener,
            self.throttle,
            self.limits,
            self.secrets,
            self.clock,
            self.events,
            self.devices,
        )

    @property
    def login(self) -> LoginUser:
        return LoginUser(
            self.uow(), self.passwords, self.opener, self.throttle, self.limits, self.events, self.budget, self.devices
        )

    @property
    def budget(self) -> AccountBudget:
        return AccountBudget(self.throttle, self.limits)

    @property
    def devices(self) -> DeviceTokens:
        return DeviceTokens(self.hasher, self.secrets, self.clock)

    @property
    def rotate(self) -> RotateRefresh:
        return RotateRefresh(
            self.sessions,
            self.hasher,
            self.opener,
            self.clock,
            self.session_policy,
            self.events,
            self.failure_budget,
            self.refresh_policy,
            self.observer,
        )

    @property
    def logout(self) -> Logout:
        return Logout(self.sessions, self.events)

    @property
    def revoke_all(self) -> RevokeAllSessions:
        return RevokeAllSessions(self.sessions, self.events, self.clock)

    @property
    def revoke_others(self) -> RevokeOtherSessions:
        return RevokeOtherSessions(self.revoke_all)

    @property
    def revoke_session(self) -> RevokeSession:
        return RevokeSession(self.sessions, self.events)

    @property
    def list_sessions(self) -> ListSessions:
        return ListSessions(self.sessions, self.clock)

    @property
    def authenticate(self) -> AuthenticateRequest:
        return AuthenticateRequest(
            AuthenticateBearer(self.codec, self.sessions),
            AuthenticateApiKey(
                FakeApiKeyLookup(self.database),
                self.hasher,
                self.usage,
                self.clock,
                self.events,
                self.failures,
                self.limits,
            ),
            PrincipalThrottle(self.limiter, self.observer, self.events),
            self.limits,
        )

    @property
    def create_api_key(self) -> CreateApiKey:
        return CreateApiKey(self.uow(), self.hasher, self.secrets, self.clock, self.events)

    @property
    def list_api_keys(self) -> ListApiKeys:
        return ListApiKeys(self.uow())

    @property
    def revoke_api_key(self) -> RevokeApiKey:
        return RevokeApiKey(self.uow(), self.clock, self.events)

    @property
    def request_reset(self) -> RequestPasswordReset:
        return RequestPasswordReset(
            self.uow(),
            self.mailer,
            self.hasher,
            self.secrets,
            self.throttle,
            self.limits,
            self.clock,
            self.reset_policy,
            self.events,
        )

    @property
    def reset_password(self) -> ResetPassword:
        return ResetPassword(
            self.uow(),
            self.hasher,
            self.passwords,
            self.policy,
            self.sessions,
            self.clock,
            self.events,
            self.failures,
            self.limits,
        )

    @property
    def change_password(self) -> ChangePassword:
        return ChangePassword(
            self.uow(),
            self.passwords,
            self.policy,
            self.sessions,
            self.throttle,
            self.limits,
            self.clock,
            self.events,
            self.budget,
        )

    # --- helpers ---

    async def sign_up(
        self, email: str = "listener@example.com", password: str = STRONG_PASSWORD, device: str | None = None
    ) -> TokenGrant:
        return await self.register.execute(Credentials(email, password, client="10.0.0.1", device_name=device))
