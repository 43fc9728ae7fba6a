"""Security activity and security mails (issue 15), the revocation fence (issue 12), and the
spent failure budgets told on its channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, decorate, provide
from prometheus_client import CollectorRegistry

from musicez.adapters.fence.caches import FencedApiKeyLookup, FencedSessionStore
from musicez.adapters.fence.metrics import FenceMetrics
from musicez.adapters.fence.none import NoRevocationNotifier, NoSpentBudgetNotifier
from musicez.adapters.fence.redis import RedisFence
from musicez.adapters.redis.client import AnyRedis
from musicez.application.activity import (
    ActivityJournal,
    ActivityRecorder,
    BackgroundWork,
    ListActivity,
    PurgeActivity,
)
from musicez.application.ports import (
    ActivityLog,
    ApiKeyLookup,
    Clock,
    EventSink,
    KeyedHasher,
    Mailer,
    RateLimiter,
    RevocationNotifier,
    SecretGenerator,
    SecurityLinkRepository,
    SessionStore,
    SpentBudgetNotifier,
)
from musicez.application.security_mail import ReportNotMe, SecurityMailPolicy, SendSecurityMail
from musicez.application.throttle import FailureBudget
from musicez.entrypoints.providers.storage import UnitsOfWork
from musicez.entrypoints.settings import SettingsError
from musicez.entrypoints.settings_groups import (
    ActivitySettings,
    FenceSettings,
    LimitSettings,
    MailSettings,
    RedisSettings,
)


class ActivityProvider(Provider):
    """Security activity and security mails (issue 15): the event sink also writes the feed."""

    scope = Scope.APP

    @provide
    async def background(self) -> AsyncIterator[BackgroundWork]:
        work = BackgroundWork()
        yield work
        await work.drain()

    @provide
    def journal(self, activity: ActivityLog) -> ActivityJournal:
        return ActivityJournal(activity)

    @provide
    def security_mail_policy(self, mail: MailSettings, limits: LimitSettings) -> SecurityMailPolicy:
        return SecurityMailPolicy(mail.security_url, mail.security_link_ttl, limits.security_mails)

    @decorate
    def record_activity(  # noqa: PLR0917 - dishka passes what the signature names
        self,
        events: EventSink,
        journal: ActivityJournal,
        background: BackgroundWork,
        users: UnitsOfWork,
        links: SecurityLinkRepository,
        mailer: Mailer,
        limiter: RateLimiter,
        macs: KeyedHasher,
        secrets: SecretGenerator,
        clock: Clock,
        security_mail_policy: SecurityMailPolicy,
    ) -> EventSink:
        notifier = SendSecurityMail(users, links, mailer, limiter, macs, secrets, clock, security_mail_policy, events)
        return ActivityRecorder(events, journal, clock=clock, secrets=secrets, background=background, notifier=notifier)

    @provide
    def list_activity(self, activity: ActivityLog, clock: Clock, settings: ActivitySettings) -> ListActivity:
        return ListActivity(activity, clock, settings.retention)

    @provide
    def purge_activity(
        self, activity: ActivityLog, links: SecurityLinkRepository, clock: Clock, settings: ActivitySettings
    ) -> PurgeActivity:
        return PurgeActivity(activity, links, clock, settings.retention)

    @provide
    def report_not_me(  # noqa: PLR0917 - dishka passes what the signature names
        self,
        links: SecurityLinkRepository,
        sessions: SessionStore,
        macs: KeyedHasher,
        budget: FailureBudget,
        clock: Clock,
        events: EventSink,
        limits: LimitSettings,
    ) -> ReportNotMe:
        return ReportNotMe(links, sessions, macs, budget, limits.not_me_failures, clock, events)


class FenceProvider(Provider):
    """Issue 12: the guard's reads cached in-process, revocations fenced (only with Redis)."""

    scope = Scope.APP

    @provide
    async def fence(
        self, redis: AnyRedis | None, s: FenceSettings, redis_settings: RedisSettings, registry: CollectorRegistry
    ) -> AsyncIterator[RedisFence | None]:
        if redis is None or s.lease_ms == 0:
            yield None
            return
        if 2 * s.ping_ms > s.lease_ms:
            raise SettingsError("MUSICEZ_FENCE_PING_MS must be at most half of MUSICEZ_FENCE_LEASE_MS")
        fence = RedisFence(
            redis,
            redis_settings.prefix,
            lease=s.lease_ms / 1000,
            ping_interval=s.ping_ms / 1000,
            session_capacity=s.session_cache_size,
            key_capacity=s.api_key_cache_size,
            metrics=FenceMetrics(registry),
        )
        yield fence
        await fence.close()

    @provide
    def revocation_notifier(self, fence: RedisFence | None) -> RevocationNotifier | None:
        return fence if fence is not None else NoRevocationNotifier()

    @provide
    async def spent_budget_notifier(
        self, redis: AnyRedis | None, fence: RedisFence | None, s: FenceSettings, redis_settings: RedisSettings
    ) -> AsyncIterator[SpentBudgetNotifier]:
        """On the fence's channel. With the fence off (lease 0) that channel is still read, for
        this alone: the same class with no caches to trust (it pings at its idle rate only).
        Without Redis there is one process, and no one to tell."""
        if fence is not None:
            yield fence
            return
        if redis is None:
            yield NoSpentBudgetNotifier()
            return
        channel = RedisFence(
            redis, redis_settings.prefix, lease=0.0, ping_interval=s.ping_ms / 1000, session_capacity=0, key_capacity=0
        )
        yield channel
        await channel.close()

    @decorate
    def fenced_sessions(self, inner: SessionStore, fence: RedisFence | None, clock: Clock) -> SessionStore:
        return inner if fence is None else FencedSessionStore(inner, fence, clock)

    @decorate
    def fenced_api_keys(self, inner: ApiKeyLookup, fence: RedisFence | None) -> ApiKeyLookup:
        return inner if fence is None else FencedApiKeyLookup(inner, fence)
