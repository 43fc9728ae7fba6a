"""Registering an account and logging in."""

from __future__ import annotations

from dataclasses import dataclass, replace

from musicez.application.account_budget import AccountBudget, account_key
from musicez.application.devices import DeviceTokens
from musicez.application.policies import ThrottlePolicy, client_limit
from musicez.application.ports import Clock, EventSink, PasswordHasher, SecretGenerator, UnitOfWork
from musicez.application.session_opening import SessionOpener, TokenGrant, clean_device_name
from musicez.application.throttle import Throttle
from musicez.domain.email import Email
from musicez.domain.errors import (
    AccountDisabled,
    EmailTaken,
    HashingBusy,
    InvalidCredentials,
    RateLimited,
    ValidationFailed,
)
from musicez.domain.events import (
    LoginFailed,
    LoginRefused,
    LoginSucceeded,
    LoginThrottled,
    PasswordRehashed,
    SessionOpened,
    UserRegistered,
)
from musicez.domain.ids import UserId
from musicez.domain.password_policy import PasswordPolicy, fits_bcrypt
from musicez.domain.redaction import hide_secrets
from musicez.domain.session import EndReason
from musicez.domain.user import User


@hide_secrets
@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client sends to register or log in, and where it sends it from."""

    email: str
    password: str
    client: str
    device_name: str | None = None
    device_token: str | None = None  # login: from an earlier login, the account budget does not refuse it


@dataclass(frozen=True, slots=True)
class RegisterUser:
    uow: UnitOfWork
    password_hasher: PasswordHasher
    password_policy: PasswordPolicy
    opener: SessionOpener
    throttle: Throttle
    throttle_policy: ThrottlePolicy
    secrets: SecretGenerator
    clock: Clock
    events: EventSink
    devices: DeviceTokens

    async def execute(self, command: Credentials) -> TokenGrant:
        await self.throttle.hit(*client_limit("register", command.client, self.throttle_policy))
        self.password_hasher.check_capacity()  # shed a storm before the database read
        email = Email.parse(command.email)
        self.password_policy.check(command.password, email)
        async with self.uow:  # a cheap early answer; the unique index still decides races
            if await self.uow.users.get_by_email(email) is not None:
                raise EmailTaken()
        password_hash = await self.password_hasher.hash(command.password)
        now = self.clock.now()
        user = User(UserId(self.secrets.new_id()), email, password_hash, now, now)
        async with self.uow:
            await self.uow.users.add(user)
            await self.uow.commit()
        self.events.record(UserRegistered(user_id=str(user.id)))
        grant = await self.opener.open(user, command.device_name)
        # Registration's session is a login in the user's activity (without a "new sign-in" mail).
        self.events.record(
            SessionOpened(user_id=str(user.id), session_id=str(grant.session.id), device_name=grant.session.device_name)
        )
        return replace(grant, device_token=self.devices.issue(user))


@dataclass(frozen=True, slots=True)
class LoginUser:
    uow: UnitOfWork
    password_hasher: PasswordHasher
    opener: SessionOpener
    throttle: Throttle
    throttle_policy: ThrottlePolicy
    events: EventSink
    budget: AccountBudget
    devices: DeviceTokens

    async def execute(self, command: Credentials) -> TokenGrant:
        await self.throttle.hit(*client_limit("login", command.client, self.throttle_policy))
        try:
            email: Email | None = Email.parse(command.email)
        except ValidationFailed:
            email = None
        account = account_key(email) if email is not None else command.email.strip().lower()
        pair_key = f"login-failures:{account}|{command.client}"
        # A storm is shed here: no database read, and no failure counted for a login never checked.
        self.password_hasher.check_capacity()
        # Counted before the password is checked, so parallel guesses cannot all slip through;
        # a successful login clears this count (the account's budget only gives its attempt back).
        attempt = await self.throttle.count(pair_key, self.throttle_policy.login_failures)
        if not attempt.allowed:
            self.events.record(LoginThrottled())
            raise RateLimited(attempt.reset_after, "Too many failed logins; try again later")

        user = None
        if email is not None:
            async with self.uow:
                user = await self.uow.users.get_by_email(email)
        # Every client's failures for this account, counted before bcrypt like the pair above
        # (after the lookup, so a database outage's 503s are not counted as failures).
        spent = await self.budget.spend(account)
        over_budget = spent.refused
        if over_budget is not None:
            if not (user is not None and self.devices.is_valid(command.device_token, user)):
                # Whether or not the account exists, whatever the password.
                self.events.record(LoginThrottled(scope="account"))
                raise RateLimited(over_budget.reset_after, "Too many failed logins for this account; try again later")
            self.budget.waive(spent)  # not this device's limit: RateLimit-* describe the ones that are
        if user is None or not fits_bcrypt(command.password):
            await self.password_hasher.spend_equal_work(command.password, account)
            verified = False
        else:
            verified = await self.password_hasher.verify(command.password, user.password_hash)
        if user is not None and verified and user.disabled:
            # Only a right password learns of the block, and it is not a failure.
            if over_budget is None:
                await self.budget.refund(account, spent)
            await self.throttle.reset(pair_key, self.throttle_policy.login_failures)
            self.throttle.observer.retract(attempt)
            self.events.record(LoginRefused(user_id=str(user.id), reason="account_disabled"))
            raise AccountDisabled()
        if user is None or not verified:
            self.events.record(
                LoginFailed(
                    user_id=str(user.id) if user else None,
                    device_name=clean_device_name(command.device_name) if user else None,
                )
            )
            raise InvalidCredentials()
        await self.throttle.reset(pair_key, self.throttle_policy.login_failures)
        self.throttle.observer.retract(attempt)  # RateLimit-* describe the counter as it is now: reset
        if over_budget is None:  # a device that got past an exhausted budget leaves it exhausted
            await self.budget.refund(account, spent)
        return await self._open_session(user, command)

    async def _open_session(self, user: User, command: Credentials) -> TokenGrant:
        """Open the session, then make sure no reset, change or disable committed while bcrypt ran."""
        grant = await self.opener.open(user, command.device_name)
        # A reset or change may have committed while bcrypt ran. It revokes sessions after its
        # commit, so either it sees this session, or this read sees its new password.
        async with self.uow:
            current = await self.uow.users.get(user.id)
        # A concurrent login's rehash (the same password at a higher cost) is no change.
        rehashed = current is not None and current.password_hash != user.password_hash
        if rehashed and current and await self._verifies(command.password, current.password_hash):
            user = replace(user, password_hash=current.password_hash)
        if current is None or current.password_hash != user.password_hash or current.disabled:
            await self.opener.sessions.revoke(user.id, grant.session.id, reason=EndReason.PASSWORD_CHANGED)
            self.events.record(LoginFailed(user_id=str(user.id), reason="password_changed"))
            if current is not None and current.disabled:  # disabled while bcrypt ran
                raise AccountDisabled()
            raise InvalidCredentials()
        async with self.uow:
            await self.uow.users.record_login(user.id, grant.session.created_at)  # last_login_at (v1.1)
            await self.uow.commit()
        await self._rehash_if_weaker(user, command.password)
        self.events.record(
            LoginSucceeded(
                user_id=str(user.id), session_id=str(grant.session.id), device_name=grant.session.device_name
            )
        )
        return replace(grant, device_token=self.devices.issue(user))

    async def _verifies(self, password: str, password_hash: str) -> bool:
        try:
            return await self.password_hasher.verify(password, password_hash)
        except HashingBusy:
            return False

    async def _rehash_if_weaker(self, user: User, password: str) -> None:
        """A hash made at a lower cost than configured is replaced, unless the password
        changed meanwhile (the update is conditional) or the hasher is saturated (next time)."""
        if not self.password_hasher.needs_rehash(user.password_hash):
            return
        try:
            new_hash = await self.password_hasher.hash(password)
        except HashingBusy:
            return
        async with self.uow:
            if await self.uow.users.replace_hash(user.id, user.password_hash, new_hash):
                await self.uow.commit()
                self.events.record(PasswordRehashed(user_id=str(user.id)))
