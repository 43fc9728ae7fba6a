"""Is each dependency reachable, and how fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from musicez.application.ports import Database, SessionStore

PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class DependencyStatus:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HealthReport:
    dependencies: list[DependencyStatus]

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.dependencies)


@dataclass(frozen=True, slots=True)
class CheckHealth:
    database: Database
    sessions: SessionStore

    async def execute(self) -> HealthReport:
        results = await asyncio.gather(
            _probe("database", self.database.ping), _probe("session_store", self.sessions.ping)
        )
        return HealthReport(list(results))


async def _probe(name: str, ping: Callable[[], Awaitable[None]]) -> DependencyStatus:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(ping(), PROBE_TIMEOUT)
    except Exception as exc:  # any failure means "not reachable"; the kind is enough to report
        return DependencyStatus(name, False, _ms(started), type(exc).__name__)
    return DependencyStatus(name, True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
