"""Forgotten passwords, resets and changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urlencode, urlsplit, urlunsplit

from musicez.application.account_budget import AccountBudget, account_key
from musicez.application.macs import reset_token_hash
from musicez.application.policies import ResetPolicy, ThrottlePolicy, client_limit
from musicez.application.ports import (
    Clock,
    EventSink,
    KeyedHasher,
    Mailer,
    OutgoingMail,
    PasswordHasher,
    SecretGenerator,
    SessionStore,
    UnitOfWork,
)
from musicez.application.session_ending import ending_sessions
from musicez.application.sessions import live_session_ids
from musicez.application.throttle import FailureBudget, Throttle
from musicez.domain.email import Email
from musicez.domain.errors import AccountDisabled, InvalidCurrentPassword, InvalidResetToken, RateLimited
from musicez.domain.events import (
    PasswordChanged,
    PasswordChangeFailed,
    PasswordResetCompleted,
    PasswordResetFailed,
    PasswordResetRequested,
    PasswordResetSuppressed,
)
from musicez.domain.password_policy import PasswordPolicy, fits_bcrypt
from musicez.domain.principal import UserPrincipal
from musicez.domain.reset_token import RESET_TOKEN_BYTES, ResetToken
from musicez.domain.session import EndReason

# A third party asking for links never voids the owner's: up to this many stay live at once.
LIVE_RESET_LINKS_PER_USER = 5


def reset_link(base: str, token: str) -> str:
    parts = urlsplit(base)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"token": token})))


def reset_mail(to: str, link: str, expires_at: datetime, reset_policy: ResetPolicy) -> OutgoingMail:
    minutes = reset_policy.token_ttl // 60
    body = (
        f"Hello,\n\n"
        f"Someone asked to reset the password of the {reset_policy.product_name} account for {to}.\n"
        f"If it was you, choose a new password here:\n\n"
        f"    {link}\n\n"
        f"The link works once and expires in {minutes} minutes "
        f"(at {expires_at.strftime('%Y-%m-%d %H:%M')} UTC).\n\n"
        f"If you did not ask for this, you can ignore this email: your password stays as it is,\n"
        f"and nobody can change it without this link.\n\n"
        f"-- The {reset_policy.product_name} team\n"
    )
    return OutgoingMail(to=to, subject=f"Reset your {reset_policy.product_name} password", body=body)


@dataclass(frozen=True, slots=True)
class AcceptPasswordResetRequest:
    """The request path of "forgot password": validate and throttle, nothing that
    depends on whether the account exists."""

    throttle: Throttle
    throttle_policy: ThrottlePolicy

    async def execute(self, email: str, client: str) -> Email:
        await self.throttle.hit(*client_limit("forgot", client, self.throttle_policy))
        return Email.parse(email)


@dataclass(frozen=True, slots=True)
class RequestPasswordReset:
    """Runs off the request path: looks the account up and mails a link if it exists."""

    uow: UnitOfWork
    mailer: Mailer
    macs: KeyedHasher
    secrets: SecretGenerator
    throttle: Throttle
    throttle_policy: ThrottlePolicy
    clock: Clock
    reset_policy: ResetPolicy
    events: EventSink

    async def execute(self, email: Email, client: str = "unknown") -> None:
        # Per (email, client address): someone else's requests never use up the owner's quota.
        decision = await self.throttle.limiter.hit(
            f"forgot-email:{email}|{client}", self.throttle_policy.forgot_per_email
        )
        if not decision.allowed:
            self.events.record(PasswordResetSuppressed(reason="per_email_limit"))
            return
        now = self.clock.now()
        async with self.uow:
            user = await self.uow.users.get_by_email(email)
            if user is None or user.disabled:
                self.events.record(PasswordResetRequested(known=False))
                return
            text = ResetToken.new(self.secrets.token_bytes(RESET_TOKEN_BYTES)).token
            expires_at = now + timedelta(seconds=self.reset_policy.token_ttl)
            await self.uow.reset_tokens.add_for_user(
                user.id, reset_token_hash(self.macs, text), expires_at, now, LIVE_RESET_LINKS_PER_USER
            )
            await self.uow.commit()
        self.events.record(PasswordResetRequested(known=True, user_id=str(user.id)))
        await self.mailer.send(
            reset_mail(user.email.value, reset_link(self.reset_policy.reset_url, text), expires_at, self.reset_policy)
        )


@dataclass(frozen=True, slots=True)
class ResetPassword:
    uow: UnitOfWork
    macs: KeyedHasher
    password_hasher: PasswordHasher
    password_policy: PasswordPolicy
    sessions: SessionStore
    clock: Clock
    events: EventSink
    failures: FailureBudget
    throttle_policy: ThrottlePolicy

    async def execute(self, token: str, new_password: str, client: str = "unknown") -> None:
        budget_key = f"reset-failures:{client}"
        self.failures.check(budget_key)  # before any lookup
        try:
            ResetToken.parse(token)
        except InvalidResetToken:
            await self._failed(budget_key)
        token_hash = reset_token_hash(self.macs, token)
        async with self.uow:
            user_id = await self.uow.reset_tokens.find(token_hash, self.clock.now())
            user = None if user_id is None else await self.uow.users.get(user_id)
        if user is None or user.disabled:
            await self._failed(budget_key)
        # Checked before anything is written: a weak password leaves the token usable.
        self.password_policy.check(new_password, user.email, field="new_password")
        # Hashed outside any transaction: no row lock or pooled connection is held meanwhile.
        new_hash = await self.password_hasher.hash(new_password)
        now = self.clock.now()
        async with ending_sessions(self.uow, self.sessions, reason=EndReason.PASSWORD_RESET) as end:
            # The conditional consume decides between two resets racing with one token.
            if await self.uow.reset_tokens.consume(token_hash, now) != user.id:
                raise InvalidResetToken()
            ending = await live_session_ids(self.sessions, user.id, now)
            await self.uow.users.set_password(user.id, new_hash, now)
            end.sessions_of(user.id)
        self.events.record(PasswordResetCompleted(user_id=str(user.id), session_ids=ending))
        await self.failures.describe(budget_key, self.throttle_policy.reset_failures)

    async def _failed(self, budget_key: str) -> NoReturn:
        self.events.record(PasswordResetFailed())
        await self.failures.fail(budget_key, self.throttle_policy.reset_failures)
        raise InvalidResetToken()


@dataclass(frozen=True, slots=True)
class ChangePassword:
    uow: UnitOfWork
    password_hasher: PasswordHasher
    password_policy: PasswordPolicy
    sessions: SessionStore
    throttle: Throttle
    throttle_policy: ThrottlePolicy
    clock: Clock
    events: EventSink
    budget: AccountBudget

    async def execute(self, principal: UserPrincipal, current_password: str, new_password: str) -> None:
        # A stolen access token must not become a way to guess the password itself.
        guesses = f"password-change:{principal.user_id}"
        attempt = await self.throttle.count(guesses, self.throttle_policy.login_failures)
        if not attempt.allowed:
            raise RateLimited(attempt.reset_after, "Too many wrong current passwords; try again later")
        async with self.uow:
            user = await self.uow.users.get(principal.user_id)
        if user is None:
            raise InvalidCurrentPassword()
        if user.disabled:  # v1.1: a disabled account changes nothing
            raise AccountDisabled()
        # Wrong current passwords count against the account's login budget too (before bcrypt).
        spent = await self.budget.spend(account_key(user.email))
        over_budget = spent.refused
        if over_budget is not None:
            raise RateLimited(over_budget.reset_after, "Too many failed password checks for this account; try later")
        if not fits_bcrypt(current_password) or not await self.password_hasher.verify(
            current_password, user.password_hash
        ):
            session = principal.session
            self.events.record(
                PasswordChangeFailed(
                    user_id=str(user.id),
                    session_id=str(principal.session_id),
                    device_name=session.device_name if session is not None else None,
                )
            )
            raise InvalidCurrentPassword()
        await self.throttle.reset(guesses, self.throttle_policy.login_failures)
        self.throttle.observer.retract(attempt)  # RateLimit-* describe the counters as they are now
        await self.budget.refund(account_key(user.email), spent)
        self.password_policy.check(new_password, user.email, field="new_password")
        new_hash = await self.password_hasher.hash(new_password)
        ending = await live_session_ids(self.sessions, user.id, self.clock.now(), keep=principal.session_id)
        changing = ending_sessions(
            self.uow, self.sessions, keep=principal.session_id, reason=EndReason.PASSWORD_CHANGED
        )
        async with changing as end:
            await self.uow.users.set_password(user.id, new_hash, self.clock.now())
            await self.uow.reset_tokens.revoke_for_user(user.id)  # a pending link must not undo it
            end.sessions_of(user.id)
        self.events.record(
            PasswordChanged(user_id=str(user.id), session_id=str(principal.session_id), session_ids=ending)
        )
