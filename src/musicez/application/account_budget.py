"""The per-account failure budget: failed logins (and wrong current passwords) for one
email, from every client address together (`MUSICEZ_ACCOUNT_FAILURE_LIMIT`)."""

from __future__ import annotations

from dataclasses import dataclass

from musicez.application.policies import ThrottlePolicy
from musicez.application.ports import RateDecision
from musicez.application.throttle import Throttle
from musicez.domain.email import Email


def account_key(email: Email) -> str:
    """One account's name in the budget: login and password change must agree on it (the
    comparison form of the address, however that is defined)."""
    return str(email)


@dataclass(frozen=True, slots=True)
class AccountBudget:
    throttle: Throttle
    throttle_policy: ThrottlePolicy

    @staticmethod
    def key(account: str) -> str:
        return f"login-account:{account}"

    async def spend(self, account: str) -> RateDecision | None:
        """Count one attempt against every limit, before the password is checked (so parallel
        guesses cannot slip through); the refusing decision when any limit is exceeded."""
        refused: RateDecision | None = None
        for limit in self.throttle_policy.account_failures:
            decision = await self.throttle.limiter.hit(self.key(account), limit)
            if not decision.allowed and (refused is None or decision.reset_after > refused.reset_after):
                refused = decision
        return refused

    async def refund(self, account: str) -> None:
        """The attempt was not a failure (the right password): the account's count starts over."""
        for limit in self.throttle_policy.account_failures:
            await self.throttle.limiter.reset(self.key(account), limit)
