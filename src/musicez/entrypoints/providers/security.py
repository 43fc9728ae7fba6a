"""Passwords, keys and tokens, the policies drawn from the settings, and the process's services
(clock, randomness, mail, events, usage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dishka import Provider, Scope, alias, provide
from prometheus_client import CollectorRegistry

from musicez.adapters.events import ClientIds, LogEventSink
from musicez.adapters.mail.log import LogMailer
from musicez.adapters.mail.outbox import OutboxMailer
from musicez.adapters.mail.smtp import SmtpMailer, SmtpTarget
from musicez.adapters.security.common_passwords import load_common_passwords
from musicez.adapters.security.jwt_codec import JwtCodec, TokenSettings
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.adapters.security.keys import KeyRing
from musicez.adapters.security.passwords import BcryptHasher
from musicez.adapters.system import OsSecrets, SystemClock
from musicez.adapters.usage import BufferedUsageRecorder
from musicez.application.api_key_usage import UsageBuffer
from musicez.application.policies import RefreshPolicy, ResetPolicy, SessionPolicy, ThrottlePolicy
from musicez.application.ports import (
    AccessTokenCodec,
    Clock,
    EventSink,
    KeyedHasher,
    Mailer,
    PasswordHasher,
    RateObserver,
    SecretGenerator,
    UsageRecorder,
)
from musicez.application.public_keys import PublicKeys
from musicez.domain.password_policy import PasswordPolicy
from musicez.entrypoints.key_loading import build_key_ring, server_secret
from musicez.entrypoints.rate_observer import ContextRateObserver
from musicez.entrypoints.settings_groups import (
    KeySettings,
    LimitSettings,
    MailSettings,
    PasswordSettings,
    SessionSettings,
)


class SecurityProvider(Provider):
    scope = Scope.APP

    @provide
    def password_hasher(self, settings: PasswordSettings) -> Iterator[PasswordHasher]:
        password_hasher = BcryptHasher(settings.bcrypt_rounds, settings.bcrypt_threads, settings.bcrypt_max_wait)
        yield password_hasher
        password_hasher.close()

    @provide
    def key_ring(self, keys: KeySettings) -> KeyRing:
        return build_key_ring(keys)

    public_keys = alias(source=KeyRing, provides=PublicKeys)

    @provide
    def access_tokens(self, keys: KeyRing, sessions: SessionSettings) -> AccessTokenCodec:
        s = sessions
        return JwtCodec(keys, TokenSettings(s.issuer, s.audience, s.access_ttl, s.leeway))

    @provide
    def keyed_hasher(self, keys: KeySettings) -> KeyedHasher:
        return HmacHasher(server_secret(keys))

    @provide
    def password_policy(self) -> PasswordPolicy:
        return PasswordPolicy(load_common_passwords())

    @provide
    def session_policy(self, s: SessionSettings) -> SessionPolicy:
        return SessionPolicy(s.access_ttl, s.refresh_ttl, s.refresh_reuse_grace, s.session_max_age)

    @provide
    def throttle_policy(self, limits: LimitSettings) -> ThrottlePolicy:
        return ThrottlePolicy(
            per_principal=limits.per_principal,
            login_failures=limits.login_failures,
            login_per_client=limits.login_per_client,
            register_per_client=limits.register_per_client,
            forgot_per_client=limits.forgot_per_client,
            forgot_per_email=limits.forgot_per_email,
            account_failures=limits.account_failures,
            reset_failures=limits.reset_failures,
            api_key_failures=limits.api_key_failures,
        )

    @provide
    def refresh_policy(self, limits: LimitSettings) -> RefreshPolicy:
        return RefreshPolicy(per_session=limits.refresh_per_session, failures_per_client=limits.refresh_failures)

    @provide
    def reset_policy(self, mail: MailSettings) -> ResetPolicy:
        return ResetPolicy(token_ttl=mail.reset_ttl, reset_url=mail.reset_url)


class ServicesProvider(Provider):
    scope = Scope.APP

    clock = provide(SystemClock, provides=Clock)
    secrets = provide(OsSecrets, provides=SecretGenerator)
    rate_observer = provide(ContextRateObserver, provides=RateObserver)
    usage_buffer = provide(BufferedUsageRecorder)
    usage_drain = alias(source=BufferedUsageRecorder, provides=UsageBuffer)

    @provide
    def usage(self, buffer: BufferedUsageRecorder) -> UsageRecorder:
        return buffer

    @provide
    def events(self, registry: CollectorRegistry, macs: KeyedHasher) -> EventSink:
        return LogEventSink(registry, ClientIds(macs))

    @provide
    def mailer(self, mail: MailSettings) -> Mailer:
        if mail.outbox:
            return OutboxMailer(Path(mail.outbox), mail.sender)
        if mail.smtp_url:
            return SmtpMailer(SmtpTarget.parse(mail.smtp_url), mail.sender)
        return LogMailer()
