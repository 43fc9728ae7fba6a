"""The composition root: dishka providers that turn settings into adapters and use cases."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from dishka import AsyncContainer, Provider, Scope, decorate, make_async_container, provide
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from musicez.adapters.events import LogEventSink
from musicez.adapters.fence.caches import FencedApiKeyLookup, FencedSessionStore
from musicez.adapters.fence.none import NoRevocationNotifier
from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.mail.log import LogMailer
from musicez.adapters.mail.outbox import OutboxMailer
from musicez.adapters.mail.smtp import SmtpMailer, SmtpTarget
from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.adapters.postgres.database import SqlDatabase, build_engine, session_factory
from musicez.adapters.postgres.repositories import SqlApiKeyLookup
from musicez.adapters.postgres.unit_of_work import SqlUnitOfWork
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
from musicez.application.accounts import LoginUser, RegisterUser
from musicez.application.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from musicez.application.authenticate import AuthenticateApiKey, AuthenticateBearer, AuthenticateRequest
from musicez.application.grants import SessionOpener
from musicez.application.health import CheckHealth
from musicez.application.passwords import (
    AcceptPasswordResetRequest,
    ChangePassword,
    RequestPasswordReset,
    ResetPassword,
)
from musicez.application.policy import ResetPolicy, SessionPolicy, ThrottlePolicy
from musicez.application.ports import (
    AccessTokenCodec,
    ApiKeyLookup,
    Clock,
    Database,
    EventSink,
    KeyedHasher,
    Mailer,
    PasswordHasher,
    RateLimiter,
    RateObserver,
    RevocationNotifier,
    SecretGenerator,
    SessionStore,
    UnitOfWork,
    UsageRecorder,
)
from musicez.application.sessions import (
    DescribeSession,
    ListSessions,
    Logout,
    RevokeAllSessions,
    RevokeOtherSessions,
    RevokeSession,
    RotateRefresh,
)
from musicez.application.throttle import FailureBudget, Throttle
from musicez.domain.password_policy import PasswordPolicy
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
            self._settings.data_path.mkdir(parents=True, exist_ok=True)
        engine = build_engine(self._settings.effective_database_url, self._settings.db_pool_size)
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
    def rate_limiter(self) -> RateLimiter:
        prefix = f"{self._settings.redis_prefix}:rl"
        if self._settings.redis_url:
            return redis_rate_limiter(self._settings.redis_url, prefix)
        return memory_rate_limiter(prefix)

    @provide
    def password_hasher(self) -> Iterator[PasswordHasher]:
        hasher = BcryptHasher(self._settings.bcrypt_rounds)
        yield hasher
        hasher.close()

    @provide
    def key_ring(self) -> KeyRing:
        return build_key_ring(self._settings)

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
    def events(self, registry: CollectorRegistry) -> EventSink:
        return LogEventSink(registry)

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
    describe = provide(DescribeSession)
    health = provide(CheckHealth)
    accept_reset = provide(AcceptPasswordResetRequest)

    unit_of_work = provide(SqlUnitOfWork, provides=UnitOfWork, scope=Scope.REQUEST)
    register = provide(RegisterUser, scope=Scope.REQUEST)
    login = provide(LoginUser, scope=Scope.REQUEST)
    create_key = provide(CreateApiKey, scope=Scope.REQUEST)
    list_keys = provide(ListApiKeys, scope=Scope.REQUEST)
    revoke_key = provide(RevokeApiKey, scope=Scope.REQUEST)
    request_reset = provide(RequestPasswordReset, scope=Scope.REQUEST)
    reset = provide(ResetPassword, scope=Scope.REQUEST)
    change_password = provide(ChangePassword, scope=Scope.REQUEST)


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
        InfrastructureProvider(settings, registry), UseCaseProvider(), FenceProvider(settings), *overrides
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
