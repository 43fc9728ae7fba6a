"""The composition root: dishka providers that turn settings into adapters and use cases."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

from dishka import AsyncContainer, Provider, Scope, alias, decorate, make_async_container, provide
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from musicez.adapters.events import ClientIds, LogEventSink
from musicez.adapters.fence.caches import FencedApiKeyLookup, FencedSessionStore
from musicez.adapters.fence.none import NoRevocationNotifier
from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.mail.log import LogMailer
from musicez.adapters.mail.outbox import OutboxMailer
from musicez.adapters.mail.smtp import SmtpMailer, SmtpTarget
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.postgres.activity import SqlActivityLog, SqlSecurityLinks
from musicez.adapters.postgres.database import SqlDatabase, build_engine, session_factory
from musicez.adapters.postgres.repositories import SqlApiKeyLookup
from musicez.adapters.postgres.unit_of_work import SqlUnitOfWork
from musicez.adapters.rate_lease import LeasedRateLimiter, MemoryQuotaStore, RedisQuotaStore
from musicez.adapters.rate_limit import memory_rate_limiter, redis_rate_limiter
from musicez.adapters.redis.client import AnyRedis, connect
from musicez.adapters.redis.session_store import RedisSessionStore
from musicez.adapters.security.common_passwords import load_common_passwords
from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.adapters.security.keys import (
    KeyRing,
    asymmetric_ring,
    generate_private_pem,
    read_or_create_secret_file,
    shared_secret_ring,
)
from musicez.adapters.security.passwords import BcryptHasher
from musicez.adapters.system import OsSecrets, SystemClock
from musicez.adapters.usage import BufferedUsageRecorder
from musicez.application.account_budget import AccountBudget
from musicez.application.accounts import LoginUser, RegisterUser
from musicez.application.activity import (
    ActivityJournal,
    ActivityRecorder,
    BackgroundWork,
    ListActivity,
    PurgeActivity,
)
from musicez.application.admin import DisableUser, EnableUser, ForceLogout, ListUsers, ShowUser
from musicez.application.api_key_usage import FlushApiKeyUsage, UsageBuffer
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.application.authenticate import AuthenticateApiKey, AuthenticateBearer, AuthenticateRequest
from musicez.application.devices import DeviceTokens
from musicez.application.grants import SessionOpener
from musicez.application.health import CheckHealth
from musicez.application.introspect import IntrospectToken
from musicez.application.passwords import (
    AcceptPasswordResetRequest,
    ChangePassword,
    RequestPasswordReset,
    ResetPassword,
)
from musicez.application.policy import RefreshPolicy, ResetPolicy, SessionPolicy, ThrottlePolicy
from musicez.application.ports import (
    AccessTokenCodec,
    ActivityLog,
    ApiKeyLookup,
    Clock,
    Database,
    EventSink,
    KeyedHasher,
    Mailer,
    PasswordHasher,
    PrincipalRateLimiter,
    RateLimiter,
    RateObserver,
    RevocationNotifier,
    SecretGenerator,
    SecurityLinkRepository,
    SessionStore,
    UnitOfWork,
    UsageRecorder,
)
from musicez.application.public_keys import PublicKeys
from musicez.application.security_mail import ReportNotMe, SecurityMailPolicy, SendSecurityMail
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
from musicez.entrypoints.dev_files import private_sqlite_file
from musicez.entrypoints.rate_report import ContextRateObserver
from musicez.entrypoints.settings import Settings, SettingsError

log = logging.getLogger("musicez")


class InfrastructureProvider(Provider):
    """Adapters, built once per process from the settings."""

    scope = Scope.APP

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        super().__init__()
        self._settings = settings
        self._registry = registry

    @provide
    def settings(self) -> Settings:
        return self._settings

    @provide
    async def engine(self) -> AsyncIterator[AsyncEngine]:
        if self._settings.database_url is None:
            private_sqlite_file(self._settings.data_path / "musicez.db")  # 0600 in a 0700 data dir
        engine = build_engine(
            self._settings.effective_database_url, self._settings.db_pool_size, pgbouncer=self._settings.db_pgbouncer
        )
        yield engine
        await engine.dispose()

    @provide
    def sessions_maker(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return session_factory(engine)

    @provide
    def database(self, engine: AsyncEngine) -> Database:
        return SqlDatabase(engine)

    @provide
    def api_key_lookup(self, sessions: async_sessionmaker[AsyncSession]) -> ApiKeyLookup:
        return SqlApiKeyLookup(sessions)

    @provide
    async def redis(self) -> AsyncIterator[AnyRedis | None]:
        if not self._settings.redis_url:
            yield None
            return
        client = connect(self._settings.redis_url)
        yield client
        await client.aclose()

    @provide
    def session_store(self, redis: AnyRedis | None, clock: Clock) -> SessionStore:
        if redis is None:
            return MemorySessionStore(clock)
        return RedisSessionStore(redis, self._settings.redis_prefix)

    @provide
    def rate_limiter(self, hasher: KeyedHasher) -> RateLimiter:
        prefix = f"{self._settings.redis_prefix}:rl"
        if self._settings.redis_url:
            return redis_rate_limiter(self._settings.redis_url, prefix, hasher)
        return memory_rate_limiter(prefix, hasher)

    @provide
    def principal_rate_limiter(self, redis: AnyRedis | None) -> PrincipalRateLimiter:
        """The guard's per-principal limit as a leased quota (no Redis call on most requests)."""
        chunk = self._settings.rate_lease_max_chunk
        if redis is None:
            return LeasedRateLimiter(MemoryQuotaStore(max_chunk=chunk))
        return LeasedRateLimiter(RedisQuotaStore(redis, f"{self._settings.redis_prefix}:lease", max_chunk=chunk))

    @provide
    def password_hasher(self) -> Iterator[PasswordHasher]:
        s = self._settings
        hasher = BcryptHasher(s.bcrypt_rounds, s.bcrypt_threads or None, s.bcrypt_max_wait)
        yield hasher
        hasher.close()

    @provide
    def key_ring(self) -> KeyRing:
        return build_key_ring(self._settings)

    public_keys = alias(source=KeyRing, provides=PublicKeys)

    @provide
    def access_tokens(self, keys: KeyRing) -> AccessTokenCodec:
        s = self._settings
        return JwtCodec(keys, TokenSettings(s.jwt_issuer, s.jwt_audience, s.access_token_ttl, s.jwt_leeway))

    @provide
    def keyed_hasher(self) -> KeyedHasher:
        return HmacHasher(server_secret(self._settings))

    @provide
    def metrics_registry(self) -> CollectorRegistry:
        return self._registry

    @provide
    def events(self, registry: CollectorRegistry, hasher: KeyedHasher) -> EventSink:
        return LogEventSink(registry, ClientIds(hasher))

    @provide
    def mailer(self) -> Mailer:
        s = self._settings
        if s.mail_outbox:
            return OutboxMailer(Path(s.mail_outbox), s.mail_from)
        if s.smtp_url:
            return SmtpMailer(SmtpTarget.parse(s.smtp_url), s.mail_from)
        return LogMailer()

    clock = provide(SystemClock, provides=Clock)
    secrets = provide(OsSecrets, provides=SecretGenerator)
    rate_observer = provide(ContextRateObserver, provides=RateObserver)
    usage_buffer = provide(BufferedUsageRecorder)
    usage_drain = alias(source=BufferedUsageRecorder, provides=UsageBuffer)

    @provide
    def usage(self, buffer: BufferedUsageRecorder) -> UsageRecorder:
        return buffer

    @provide
    def password_policy(self) -> PasswordPolicy:
        return PasswordPolicy(load_common_passwords())

    @provide
    def session_policy(self) -> SessionPolicy:
        s = self._settings
        return SessionPolicy(s.access_token_ttl, s.refresh_token_ttl, s.refresh_reuse_grace, s.session_max_age)

    @provide
    def throttle_policy(self) -> ThrottlePolicy:
        s = self._settings
        return ThrottlePolicy(
            per_principal=s.limit("rate_limit"),
            login_failures=s.limit("login_rate_limit"),
            login_per_client=s.limit("login_client_rate_limit"),
            register_per_client=s.limit("register_rate_limit"),
            forgot_per_client=s.limit("forgot_rate_limit"),
            forgot_per_email=s.limit("forgot_email_rate_limit"),
            account_failures=s.limit_list("account_failure_limit"),
            reset_failures=s.limit("reset_failure_limit"),
            api_key_failures=s.limit("api_key_failure_limit"),
        )

    @provide
    def refresh_policy(self) -> RefreshPolicy:
        s = self._settings
        return RefreshPolicy(
            per_session=s.limit("refresh_session_limit"), failures_per_client=s.limit("refresh_failure_limit")
        )

    @provide
    def reset_policy(self) -> ResetPolicy:
        s = self._settings
        return ResetPolicy(token_ttl=s.password_reset_ttl, reset_url=s.password_reset_url, sender=s.mail_from)


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

    unit_of_work = provide(SqlUnitOfWork, provides=UnitOfWork, scope=Scope.REQUEST)
    register = provide(RegisterUser, scope=Scope.REQUEST)
    login = provide(LoginUser, scope=Scope.REQUEST)
    create_key = provide(CreateApiKey, scope=Scope.REQUEST)
    list_keys = provide(ListApiKeys, scope=Scope.REQUEST)
    revoke_key = provide(RevokeApiKey, scope=Scope.REQUEST)
    flush_usage = provide(FlushApiKeyUsage, scope=Scope.REQUEST)
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


class ActivityProvider(Provider):
    """Security activity and security mails (issue 15): the event sink also writes the feed."""

    scope = Scope.APP

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings

    @provide
    def activity_log(self, sessions: async_sessionmaker[AsyncSession]) -> ActivityLog:
        return SqlActivityLog(sessions)

    @provide
    def security_links(self, sessions: async_sessionmaker[AsyncSession]) -> SecurityLinkRepository:
        return SqlSecurityLinks(sessions)

    @provide
    async def background(self) -> AsyncIterator[BackgroundWork]:
        work = BackgroundWork()
        yield work
        await work.drain()

    @provide
    def journal(self, activity: ActivityLog) -> ActivityJournal:
        return ActivityJournal(activity)

    @provide
    def security_mail_policy(self) -> SecurityMailPolicy:
        s = self._settings
        return SecurityMailPolicy(s.security_url, s.security_link_ttl, s.limit("security_mail_rate_limit"))

    @decorate
    def record_activity(  # noqa: PLR0917 - dishka passes what the signature names
        self,
        events: EventSink,
        journal: ActivityJournal,
        background: BackgroundWork,
        sessions: async_sessionmaker[AsyncSession],
        links: SecurityLinkRepository,
        mailer: Mailer,
        limiter: RateLimiter,
        hasher: KeyedHasher,
        secrets: SecretGenerator,
        clock: Clock,
        policy: SecurityMailPolicy,
    ) -> EventSink:
        def users() -> UnitOfWork:
            return cast("UnitOfWork", SqlUnitOfWork(sessions))

        notifier = SendSecurityMail(users, links, mailer, limiter, hasher, secrets, clock, policy, events)
        return ActivityRecorder(events, journal, clock=clock, secrets=secrets, background=background, notifier=notifier)

    @provide
    def list_activity(self, activity: ActivityLog, clock: Clock) -> ListActivity:
        return ListActivity(activity, clock, self._settings.activity_retention)

    @provide
    def purge_activity(self, activity: ActivityLog, links: SecurityLinkRepository, clock: Clock) -> PurgeActivity:
        return PurgeActivity(activity, links, clock, self._settings.activity_retention)

    @provide
    def report_not_me(  # noqa: PLR0917 - dishka passes what the signature names
        self,
        links: SecurityLinkRepository,
        sessions: SessionStore,
        hasher: KeyedHasher,
        budget: FailureBudget,
        clock: Clock,
        events: EventSink,
    ) -> ReportNotMe:
        failures = self._settings.limit("not_me_failure_limit")
        return ReportNotMe(links, sessions, hasher, budget, failures, clock, events)


class FenceProvider(Provider):
    """Issue 12: the guard's reads cached in-process, revocations fenced (only with Redis)."""

    scope = Scope.APP

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings

    @provide
    async def fence(self, redis: AnyRedis | None) -> AsyncIterator[RedisFence | None]:
        s = self._settings
        if redis is None or s.fence_lease_ms == 0:
            yield None
            return
        if 2 * s.fence_ping_ms > s.fence_lease_ms:
            raise SettingsError("MUSICEZ_FENCE_PING_MS must be at most half of MUSICEZ_FENCE_LEASE_MS")
        fence = RedisFence(
            redis,
            s.redis_prefix,
            lease=s.fence_lease_ms / 1000,
            ping_interval=s.fence_ping_ms / 1000,
            session_capacity=s.session_cache_size,
            key_capacity=s.api_key_cache_size,
        )
        yield fence
        await fence.close()

    @provide
    def revocation_notifier(self, fence: RedisFence | None) -> RevocationNotifier | None:
        return fence if fence is not None else NoRevocationNotifier()

    @decorate
    def fenced_sessions(self, inner: SessionStore, fence: RedisFence | None, clock: Clock) -> SessionStore:
        return inner if fence is None else FencedSessionStore(inner, fence, clock)

    @decorate
    def fenced_api_keys(self, inner: ApiKeyLookup, fence: RedisFence | None) -> ApiKeyLookup:
        return inner if fence is None else FencedApiKeyLookup(inner, fence)


def build_container(settings: Settings, registry: CollectorRegistry, *overrides: Provider) -> AsyncContainer:
    """Later providers win: tests pass overrides for any port."""
    return make_async_container(
        InfrastructureProvider(settings, registry),
        UseCaseProvider(),
        ActivityProvider(settings),
        FenceProvider(settings),
        *overrides,
    )


# -- keys ----------------------------------------------------------------------------------


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read the {what} file {path}: {exc.strerror}") from None


def build_key_ring(settings: Settings) -> KeyRing:
    algorithm = settings.jwt_algorithm
    key = settings.jwt_signing_key
    if key is None and settings.jwt_signing_key_file:
        key = _read(settings.jwt_signing_key_file, "JWT signing key")
    retired = (
        _read(settings.jwt_verification_keys_file, "JWT verification keys")
        if settings.jwt_verification_keys_file
        else ""
    )
    try:
        if algorithm == "HS256":
            if key is None:
                key = read_or_create_secret_file(
                    settings.data_path / "jwt-hs256.secret", lambda: secrets.token_urlsafe(48)
                )
                log.warning("Using a generated HS256 secret from %s (development only)", settings.data_path)
            return shared_secret_ring(key.strip(), [line.strip() for line in retired.splitlines() if line.strip()])
        if key is None:
            path = settings.data_path / f"jwt-{algorithm.lower()}-signing-key.pem"
            key = read_or_create_secret_file(path, lambda: generate_private_pem(algorithm))
            log.warning("Using a generated %s signing key from %s (development only)", algorithm, path)
        return asymmetric_ring(key, algorithm, retired)
    except ValueError as exc:
        raise SettingsError(f"MUSICEZ_JWT_*: {exc}") from None


def server_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        raw = settings.secret_key.encode()
    else:
        path = settings.data_path / "secret-key"
        raw = read_or_create_secret_file(path, lambda: base64.b64encode(secrets.token_bytes(48)).decode()).encode()
    if len(raw) < 32:
        raise SettingsError("MUSICEZ_SECRET_KEY must be at least 32 characters of random data")
    return raw
