"""The rate-limit decisions taken for the current request, for its `RateLimit-*` headers."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from musicez.application.ports import RateDecision

_decisions: ContextVar[list[RateDecision] | None] = ContextVar("rate_decisions", default=None)


class ContextRateObserver:
    def observe(self, decision: RateDecision) -> None:
        collected = _decisions.get()
        if collected is not None:
            collected.append(decision)

    def retract(self, decision: RateDecision) -> None:
        collected = _decisions.get()
        if collected is not None:
            for index, seen in enumerate(collected):
                if seen is decision:
                    del collected[index]
                    return


def decisions_binder() -> Callable[[list[RateDecision] | None], object]:
    """Binds the list that collects the current request's decisions (the outer middleware makes
    one per request)."""
    return _decisions.set


def closest_to_exhaustion(decisions: list[RateDecision]) -> RateDecision | None:
    """The fewest remaining; among those a refusal first (the limit that answered 429, so Reset
    agrees with its Retry-After), then the one that frees up last."""
    return min(decisions, key=lambda d: (d.remaining, d.allowed, -d.reset_after), default=None)
