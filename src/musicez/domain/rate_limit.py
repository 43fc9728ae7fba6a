"""Rate limits as `N/PERIOD` with PERIOD one of second, minute, hour or day."""

from __future__ import annotations

from dataclasses import dataclass

PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class InvalidRateLimit(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RateLimit:
    amount: int
    period: str

    @property
    def seconds(self) -> int:
        return PERIOD_SECONDS[self.period]

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        amount, sep, period = text.strip().partition("/")
        period = period.strip().lower()
        if not sep or not amount.strip().isdecimal() or period not in PERIOD_SECONDS:
            raise InvalidRateLimit(f"invalid rate limit {text!r}: expected N/second, N/minute, N/hour or N/day")
        value = int(amount)
        if not 1 <= value <= 1_000_000_000:
            raise InvalidRateLimit(f"invalid rate limit {text!r}: N must be between 1 and 10^9")
        return cls(value, period)

    def __str__(self) -> str:
        return f"{self.amount}/{self.period}"
