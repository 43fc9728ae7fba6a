"""Security mails ("new sign-in", "your password was changed") and the "this wasn't me" link."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from musicez.application.activity import Notice
from musicez.application.macs import security_link_hash
from musicez.application.passwords import reset_link
from musicez.application.ports import (
    Clock,
    EventSink,
    KeyedHasher,
    Mailer,
    OutgoingMail,
    RateLimiter,
    SecretGenerator,
    SecurityLinkRepository,
    SessionStore,
    UnitOfWork,
)
from musicez.application.throttle import FailureBudget
from musicez.domain import base64url
from musicez.domain.activity import ActivityItem, SecurityLink
from musicez.domain.errors import InvalidSecurityToken
from musicez.domain.events import (
    NotMeRejected,
    NotMeSessionAlreadyEnded,
    SecurityMailSent,
    SecurityMailSuppressed,
    SessionRevoked,
)
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason

log = logging.getLogger("musicez.mail")

LINK_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SecurityMailPolicy:
    security_url: str = "http://localhost:8000/not-me"
    link_ttl: int = 7 * 86400
    # Security mails of one kind to one address; over it the event is still recorded, no mail goes out.
    per_address: RateLimit = field(default_factory=lambda: RateLimit(5, "hour"))
    product_name: str = "MusicEZ"


def new_sign_in_mail(to: str, item: ActivityItem, link: str, security_mail_policy: SecurityMailPolicy) -> OutgoingMail:
    product = security_mail_policy.product_name
    body = (
        f"Hello,\n\n"
        f"Your {product} account {to} was just signed in to from a device it has not used lately:\n\n"
        f"    Device: {item.device_name or 'Unknown device'}\n"
        f"    Time:   {item.at.strftime('%Y-%m-%d %H:%M')} UTC\n\n"
        f"If this was you, there is nothing to do.\n"
        f"If it was not, end that session at once with this link, then reset your password:\n\n"
        f"    {link}\n\n"
        f"The link works once and expires in {security_mail_policy.link_ttl // 86400} days.\n\n"
        f"-- The {product} team\n"
    )
    return OutgoingMail(to=to, subject=f"New sign-in to your {product} account", body=body)


def password_changed_mail(to: str, item: ActivityItem, security_mail_policy: SecurityMailPolicy) -> OutgoingMail:
    product = security_mail_policy.product_name
    how = "reset with an emailed link" if item.type == "password_reset" else "changed"
    body = (
        f"Hello,\n\n"
        f"The password of your {product} account {to} was {how} "
        f"at {item.at.strftime('%Y-%m-%d %H:%M')} UTC. Your other sessions were signed out.\n\n"
        f"If this was you, there is nothing to do.\n"
        f'If it was not, use "Forgot password" at once to choose a new one.\n\n'
        f"-- The {product} team\n"
    )
    return OutgoingMail(to=to, subject=f"Your {product} password was changed", body=body)


@dataclass(frozen=True, slots=True)
class SendSecurityMail:
    """Runs after the response; a failure is logged (without the token) and goes no further."""

    users: Callable[[], UnitOfWork]
    links: SecurityLinkRepository
    mailer: Mailer
    limiter: RateLimiter
    macs: KeyedHasher
    secrets: SecretGenerator
    clock: Clock
    security_mail_policy: SecurityMailPolicy
    events: EventSink  # the plain log sink: these events are not activity

    async def notify(self, notice: Notice) -> None:
        try:
            await self._send(notice)
        except Exception as error:  # never the token, the link or the address
            log.error("security mail (%s) failed: %s", notice.kind, type(error).__name__)

    async def _send(self, notice: Notice) -> None:
        item = notice.item
        async with self.users() as uow:
            user = await uow.users.get(item.user_id)
        if user is None:
            return
        address = user.email.value
        # Counted per kind: a run of new sign-ins (a password guessed) cannot spend the quota that
        # the "password changed" mail of the takeover after them needs.
        key = f"security-mail:{notice.kind}:{address.lower()}"
        decision = await self.limiter.hit(key, self.security_mail_policy.per_address)
        if not decision.allowed:
            self.events.record(SecurityMailSuppressed(kind=notice.kind, user_id=str(user.id)))
            return
        if notice.kind == "new_sign_in" and item.session_id is not None:
            token = base64url.encode(self.secrets.token_bytes(LINK_TOKEN_BYTES))
            now = self.clock.now()
            await self.links.add(
                security_link_hash(self.macs, token),
                SecurityLink(user.id, item.session_id),
                now + timedelta(seconds=self.security_mail_policy.link_ttl),
                now,
            )
            mail = new_sign_in_mail(
                address, item, reset_link(self.security_mail_policy.security_url, token), self.security_mail_policy
            )
        elif notice.kind == "password_changed":
            mail = password_changed_mail(address, item, self.security_mail_policy)
        else:
            return
        await self.mailer.send(mail)
        self.events.record(SecurityMailSent(kind=notice.kind, user_id=str(user.id)))


@dataclass(frozen=True, slots=True)
class ReportNotMe:
    """`POST /auth/not-me`: the link of a "new sign-in" mail ends that session at once."""

    links: SecurityLinkRepository
    sessions: SessionStore
    macs: KeyedHasher
    budget: FailureBudget
    failures: RateLimit
    clock: Clock
    events: EventSink

    async def execute(self, token: str, client: str) -> None:
        budget_key = f"not-me-failures:{client}"
        self.budget.check(budget_key)
        link = None
        if base64url.has_shape(token, LINK_TOKEN_BYTES):  # 43 characters
            link = await self.links.consume(security_link_hash(self.macs, token), self.clock.now())
        if link is None:
            await self.budget.fail(budget_key, self.failures)
            self.events.record(NotMeRejected())
            raise InvalidSecurityToken()
        # The link worked either way (204); only a session it really ended is an activity item.
        if await self.sessions.revoke(link.user_id, link.session_id, reason=EndReason.NOT_ME):
            self.events.record(
                SessionRevoked(user_id=str(link.user_id), session_id=str(link.session_id), reason=EndReason.NOT_ME)
            )
        else:
            self.events.record(NotMeSessionAlreadyEnded(session_id=str(link.session_id)))
        await self.budget.describe(budget_key, self.failures)
