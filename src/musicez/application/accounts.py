"""Registering an account and logging in."""

from __future__ import annotations

from dataclasses import dataclass

from musicez.application.grants import SessionOpener, TokenGrant, clean_device_name
from musicez.application.policy import ThrottlePolicy
from musicez.application.ports import Clock, EventSink, PasswordHasher, SecretGenerator, UnitOfWork
from musicez.application.throttle import Throttle
from musicez.domain.email import Email
from musicez.domain.errors import EmailTaken, InvalidCredentials, RateLimited, ValidationFailed
from musicez.domain.password_policy import PasswordPolicy, fits_bcrypt
from musicez.domain.user import User


@dataclass(frozen=True, slots=True)
class RegisterCommand:
    email: str
    password: str
    client: str
    device_name: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterUser:
    uow: UnitOfWork
    hasher: PasswordHasher
    policy: PasswordPolicy
    opener: SessionOpener
    throttle: Throttle
    limits: ThrottlePolicy
    secrets: SecretGenerator
    clock: Clock
    events: EventSink

    async def execute(self, command: RegisterCommand) -> TokenGrant:
        await self.throttle.hit(f"register:{command.client}", self.limits.register_per_client)
        email = Email.parse(command.email)
        self.policy.check(command.password, email)
        async with self.uow:  # a cheap early answer; the unique index still decides races
            if await self.uow.users.get_by_email(email) is not None:
                raise EmailTaken()
        password_hash = await self.hasher.hash(command.password)
        now = self.clock.now()
        user = User(self.secrets.new_id(), email, password_hash, now, now)
        async with self.uow:
            await self.uow.users.add(user)
            await self.uow.commit()
        self.events.record("user_registered", user_id=str(user.id))
        grant = await self.opener.open(user, command.device_name)
        # Registration's session is a login in the user's activity (without a "new sign-in" mail).
        self.events.record(
            "session_opened",
            user_id=str(user.id),
            session_id=str(grant.session.id),
            device_name=grant.session.device_name,
        )
        return grant


@dataclass(frozen=True, slots=True)
class LoginCommand:
    email: str
    password: str
    client: str
    device_name: str | None = None


@dataclass(frozen=True, slots=True)
class LoginUser:
    uow: UnitOfWork
    hasher: PasswordHasher
    opener: SessionOpener
    throttle: Throttle
    limits: ThrottlePolicy
    events: EventSink

    async def execute(self, command: LoginCommand) -> TokenGrant:
        await self.throttle.hit(f"login-client:{command.client}", self.limits.login_per_client)
        try:
            email: Email | None = Email.parse(command.email)
        except ValidationFailed:
            email = None
        pair_key = f"login-failures:{email or command.email.strip().lower()}|{command.client}"
        # Counted before the password is checked, so parallel guesses cannot all slip through;
        # a successful login clears the count.
        attempt = await self.throttle.count(pair_key, self.limits.login_failures)
        if not attempt.allowed:
            self.events.record("login_throttled")
            raise RateLimited(attempt.reset_after, "Too many failed logins; try again later")

        user = None
        if email is not None:
            async with self.uow:
                user = await self.uow.users.get_by_email(email)
        if user is None or user.disabled or not fits_bcrypt(command.password):
            await self.hasher.spend_equal_work(command.password)
            verified = False
        else:
            verified = await self.hasher.verify(command.password, user.password_hash)
        if user is None or not verified:
            self.events.record(
                "login_failed",
                user_id=str(user.id) if user else None,
                device_name=clean_device_name(command.device_name) if user else None,
            )
            raise InvalidCredentials()

        await self.throttle.reset(pair_key, self.limits.login_failures)
        grant = await self.opener.open(user, command.device_name)
        # A reset or change may have committed while bcrypt ran. It revokes sessions after its
        # commit, so either it sees this session, or this read sees its new password.
        async with self.uow:
            current = await self.uow.users.get(user.id)
        if current is None or current.password_hash != user.password_hash or current.disabled:
            await self.opener.sessions.revoke(user.id, grant.session.id)
            self.events.record("login_failed", user_id=str(user.id), reason="password_changed")
            raise InvalidCredentials()
        self.events.record(
            "login_succeeded",
            user_id=str(user.id),
            session_id=str(grant.session.id),
            device_name=grant.session.device_name,
        )
        return grant
