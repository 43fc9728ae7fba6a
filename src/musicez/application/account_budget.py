"""The per-account failure budget: failed logins (and wrong current passwords) for one
email, from every client address together (`MUSICEZ_ACCOUNT_FAILURE_LIMIT`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from musicez.application.policies import ThrottlePolicy
from musicez.application.ports import RateDecision
from musicez.application.throttle import Throttle
from musicez.domain.email import Email


def account_key(email: Email) -> str:
    """One account's name in the budget: login and password change must agree on it (the
    comparison form of the address, however that is defined)."""
    return str(email)


class AccountSpend(NamedTuple):
    """One attempt counted against each of the account's limits: their decisions, reported for
    `RateLimit-*` (so a refusal's headers describe the budget's window, as its Retry-After)."""

    decisions: tuple[RateDecision, ...]

    @property
    def refused(self) -> RateDecision | None:
        """The refusing decision that frees up last, when any limit is exceeded (its
        `reset_after` is the Retry-After)."""
        refused: RateDecision | None = None
        for decision in self.decisions:
            if not decision.allowed and (refused is None or decision.reset_after > refused.reset_after):
                refused = decision
        return refused


@dataclass(frozen=True, slots=True)
class AccountBudget:
    throttle: Throttle
    throttle_policy: ThrottlePolicy

    @staticmethod
    def key(account: str) -> str:
        return f"login-account:{account}"

    async def spend(self, account: str) -> AccountSpend:
        """Count one attempt against every limit, before the password is checked (so parallel
        guesses cannot slip through); each decision is reported for the response's headers."""
        key = self.key(account)
        return AccountSpend(
            tuple([await self.throttle.count(key, limit) for limit in self.throttle_policy.account_failures])
        )

    def waive(self, spent: AccountSpend) -> None:
        """The budget does not apply to this attempt (a device of the account got past it): its
        decisions no longer describe a limit of this response."""
        for decision in spent.decisions:
            self.throttle.observer.retract(decision)

    async def refund(self, account: str, spent: AccountSpend) -> None:
        """The attempt was not a failure (the right password): the unit it spent is given back
        (the others' failures still count: API.md limits failed logins per account, so the
        owner's login does not wipe a guesser's count), and `RateLimit-*` no longer describe it."""
        for limit in self.throttle_policy.account_failures:
            await self.throttle.limiter.refund(self.key(account), limit)
        self.waive(spent)
