"""No fence (no Redis: one process, no caches): revocations and spent budgets need no one told."""

from __future__ import annotations

from musicez.application.ports import SpentBudgetListener
from musicez.domain.ids import ApiKeyId


class NoRevocationNotifier:
    async def api_key_revoked(self, key_id: ApiKeyId) -> None:
        return None


class NoSpentBudgetNotifier:
    """One process: the `FailureBudget` that counted the failure is the only one there is."""

    async def budget_spent(self, name: str, limit: int, reset_after: int) -> None:
        return None

    def on_budget_spent(self, listener: SpentBudgetListener) -> None:
        return None
