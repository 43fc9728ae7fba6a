"""The fakes as a dishka provider, laid over the production container (`build_container`'s
overrides): it replaces what reaches outside the process or costs real time (the database, mail,
clock, randomness, bcrypt, the rate limits, the event log) and leaves every other factory (the
settings' groups, the policies, the keys, the session store, the use cases) as production wires
them. In dishka a later provider's factory for a type replaces an earlier one; `override=True`
says that it is meant to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from advanced_alchemy.config import SQLAlchemyAsyncConfig
from dishka import Provider, Scope, provide

from musicez.application.ports import (
    ActivityLog,
    ApiKeyLookup,
    Clock,
    Database,
    EventSink,
    Mailer,
    PasswordHasher,
    PrincipalRateLimiter,
    RateLimiter,
    RateObserver,
    SecretGenerator,
    SecurityLinkRepository,
    UnitOfWork,
    UsageRecorder,
)
from musicez.entrypoints.providers.storage import UnitsOfWork
from tests.support.activity_fakes import FakeActivityLog, FakeSecurityLinks
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


@dataclass
class Fakes:
    """One set of fakes: what a test sets up and reads afterwards."""

    clock: FakeClock = field(default_factory=lambda: FakeClock(datetime.now(UTC).replace(microsecond=0)))
    database: FakeDatabase = field(default_factory=FakeDatabase)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    passwords: FakePasswordHasher = field(default_factory=FakePasswordHasher)
    limiter: FakeRateLimiter = field(default_factory=FakeRateLimiter)
    observer: FakeRateObserver = field(default_factory=FakeRateObserver)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    events: FakeEvents = field(default_factory=FakeEvents)
    usage: FakeUsageRecorder = field(default_factory=FakeUsageRecorder)
    activity: FakeActivityLog = field(default_factory=FakeActivityLog)
    links: FakeSecurityLinks = field(default_factory=FakeSecurityLinks)


class FakeNotExpected(AssertionError):
    """A unit test reached for real infrastructure that the fakes should have replaced."""


class FakeInfrastructure(Provider):
    scope = Scope.APP

    def __init__(self, fakes: Fakes) -> None:
        super().__init__()
        self.fakes = fakes

    # --- the database: no engine, no file, no connection --------------------------------------

    @provide(override=True)
    def database_config(self) -> SQLAlchemyAsyncConfig:
        """Everything of the database hangs off this: a factory left unfaked fails here."""
        raise FakeNotExpected("the unit tests reach no database: fake the port that asked for it")

    @provide(override=True)
    def database(self) -> Database:
        return FakeDatabasePing()

    @provide(override=True, scope=Scope.REQUEST)
    def unit_of_work(self) -> UnitOfWork:
        return FakeUnitOfWork(self.fakes.database)

    @provide(override=True)
    def units_of_work(self) -> UnitsOfWork:
        return lambda: FakeUnitOfWork(self.fakes.database)

    @provide(override=True)
    def api_key_lookup(self) -> ApiKeyLookup:
        return FakeApiKeyLookup(self.fakes.database)

    @provide(override=True)
    def activity_log(self) -> ActivityLog:
        return self.fakes.activity

    @provide(override=True)
    def security_links(self) -> SecurityLinkRepository:
        return self.fakes.links

    # --- time, randomness, hashing, limits, mail, events, usage -------------------------------

    @provide(override=True)
    def clock(self) -> Clock:
        return self.fakes.clock

    @provide(override=True)
    def secrets(self) -> SecretGenerator:
        return self.fakes.secrets

    @provide(override=True)
    def password_hasher(self) -> PasswordHasher:
        return self.fakes.passwords

    @provide(override=True)
    def rate_limiter(self) -> RateLimiter:
        return self.fakes.limiter

    @provide(override=True)
    def principal_rate_limiter(self) -> PrincipalRateLimiter:
        return self.fakes.limiter

    @provide(override=True)
    def rate_observer(self) -> RateObserver:
        return self.fakes.observer

    @provide(override=True)
    def mailer(self) -> Mailer:
        return self.fakes.mailer

    @provide(override=True)
    def events(self) -> EventSink:
        """The plain sink: this replaces the activity recorder too, unless `ActivityProvider` is
        laid over this provider again (`World.open(activity=True)`)."""
        return self.fakes.events

    @provide(override=True)
    def usage(self) -> UsageRecorder:
        return self.fakes.usage


class FakeDatabasePing:
    """The readiness check's `Database`: always reachable."""

    async def ping(self) -> None:
        return None
