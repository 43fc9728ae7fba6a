"""The fakes as a dishka provider, laid over the production providers (`production_providers`,
what `build_container` builds from): it replaces what reaches outside the process or costs real
time (the database, mail, clock, randomness, bcrypt, the rate limits, the event log) and leaves
every other factory (the settings' groups, the policies, the keys, the session store, the use
cases) as production wires them. In dishka a later provider's factory for a type replaces an
earlier one; `override=True` says that it is meant to, and the World's container refuses one
that replaces nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from advanced_alchemy.config import SQLAlchemyAsyncConfig
from dishka import Provider, Scope, from_context, provide
from prometheus_client import CollectorRegistry

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
from musicez.entrypoints.settings import Settings
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
    password_hasher: FakePasswordHasher = field(default_factory=FakePasswordHasher)
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
    """Each app scope (one `World`) brings its own fakes and settings in its context, so that one
    container, its graph built and compiled once, serves every World of a run."""

    scope = Scope.APP

    fakes = from_context(provides=Fakes)
    settings = from_context(provides=Settings, override=True)

    @provide(override=True)
    def metrics_registry(self) -> CollectorRegistry:
        return CollectorRegistry()

    # --- the database: no engine, no file, no connection --------------------------------------

    @provide(override=True)
    def database_config(self) -> SQLAlchemyAsyncConfig:
        """Everything of the database hangs off this: a factory left unfaked fails here."""
        raise FakeNotExpected("the unit tests reach no database: fake the port that asked for it")

    @provide(override=True)
    def database(self) -> Database:
        return FakeDatabasePing()

    @provide(override=True, scope=Scope.REQUEST)
    def unit_of_work(self, fakes: Fakes) -> UnitOfWork:
        return FakeUnitOfWork(fakes.database)

    @provide(override=True)
    def units_of_work(self, fakes: Fakes) -> UnitsOfWork:
        return lambda: FakeUnitOfWork(fakes.database)

    @provide(override=True)
    def api_key_lookup(self, fakes: Fakes) -> ApiKeyLookup:
        return FakeApiKeyLookup(fakes.database)

    @provide(override=True)
    def activity_log(self, fakes: Fakes) -> ActivityLog:
        return fakes.activity

    @provide(override=True)
    def security_links(self, fakes: Fakes) -> SecurityLinkRepository:
        return fakes.links

    # --- time, randomness, hashing, limits, mail, events, usage -------------------------------

    @provide(override=True)
    def clock(self, fakes: Fakes) -> Clock:
        return fakes.clock

    @provide(override=True)
    def secrets(self, fakes: Fakes) -> SecretGenerator:
        return fakes.secrets

    @provide(override=True)
    def password_hasher(self, fakes: Fakes) -> PasswordHasher:
        return fakes.password_hasher

    @provide(override=True)
    def rate_limiter(self, fakes: Fakes) -> RateLimiter:
        return fakes.limiter

    @provide(override=True)
    def principal_rate_limiter(self, fakes: Fakes) -> PrincipalRateLimiter:
        return fakes.limiter

    @provide(override=True)
    def rate_observer(self, fakes: Fakes) -> RateObserver:
        return fakes.observer

    @provide(override=True)
    def mailer(self, fakes: Fakes) -> Mailer:
        return fakes.mailer

    @provide(override=True)
    def events(self, fakes: Fakes) -> EventSink:
        """The plain sink: this replaces the activity recorder too, unless `ActivityProvider` is
        laid over this provider again (`World.open(activity=True)`)."""
        return fakes.events

    @provide(override=True)
    def usage(self, fakes: Fakes) -> UsageRecorder:
        return fakes.usage


class FakeDatabasePing:
    """The readiness check's `Database`: always reachable."""

    async def ping(self) -> None:
        return None
