"""The ports: small protocols the use cases depend on, implemented by the adapters.

One module per capability; every port is importable from here, as before."""

from musicez.application.ports.activity import ActivityLog, SecurityLinkRepository
from musicez.application.ports.notifications import EventSink, Mailer, OutgoingMail
from musicez.application.ports.primitives import Clock, KeyedHasher, PasswordHasher, SecretGenerator
from musicez.application.ports.rate_limits import (
    PrincipalRateLimiter,
    RateDecision,
    RateLimiter,
    RateObserver,
    SpentBudgetListener,
    SpentBudgetNotifier,
)
from musicez.application.ports.sessions import SessionStore
from musicez.application.ports.storage import (
    ApiKeyLookup,
    ApiKeyRepository,
    Database,
    ResetTokenRepository,
    RevocationNotifier,
    UnitOfWork,
    UsageRecorder,
    UserRepository,
)
from musicez.application.ports.tokens import AccessClaims, AccessToken, AccessTokenCodec

__all__ = [
    "AccessClaims",
    "AccessToken",
    "AccessTokenCodec",
    "ActivityLog",
    "ApiKeyLookup",
    "ApiKeyRepository",
    "Clock",
    "Database",
    "EventSink",
    "KeyedHasher",
    "Mailer",
    "OutgoingMail",
    "PasswordHasher",
    "PrincipalRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RateObserver",
    "ResetTokenRepository",
    "RevocationNotifier",
    "SecretGenerator",
    "SecurityLinkRepository",
    "SessionStore",
    "SpentBudgetListener",
    "SpentBudgetNotifier",
    "UnitOfWork",
    "UsageRecorder",
    "UserRepository",
]
