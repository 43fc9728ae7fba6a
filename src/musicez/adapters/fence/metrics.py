"""What the fence's caches did besides answering: Prometheus counters an operator can alert on.

A cache hit counts nothing (it is the guard's hot path, and a sample in prometheus_client's
multi-process files costs a lock and a write into a mapped file). Counted: each read that went to
the store (Redis for a session, Postgres for an API-key row) and why, each read that waited out a
lapse of the lease and how that ended, and each time the channel was lost or Redis was found
flushed. Every label set is fixed here, so the series are bounded whatever the traffic.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

SESSION = "session"
API_KEY = "api_key"


class FenceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        reads = Counter(
            "musicez_guard_store_reads",
            "Guard reads of a session (Redis) or an API-key row (Postgres) that the process's cache "
            "could not answer: not cached here yet, or the fence not trusted",
            ["cache", "reason"],
            registry=registry,
        )
        self._reads = {
            (cache, untrusted): reads.labels(cache, "untrusted" if untrusted else "not_cached")
            for cache in (SESSION, API_KEY)
            for untrusted in (False, True)
        }
        waits = Counter(
            "musicez_fence_lapse_waits",
            "Guard reads that waited for the fence's next ping (the lease had lapsed, the channel was up): "
            "trusted again, or read from the store after one lease",
            ["outcome"],
            registry=registry,
        )
        self._waited = {True: waits.labels("trusted"), False: waits.labels("store")}
        resets = Counter(
            "musicez_fence_resets",
            "Times the process dropped its guard caches: the channel lost, or Redis found flushed or restarted",
            ["cause"],
            registry=registry,
        )
        self._lost = resets.labels("channel_lost")
        self._flushed = resets.labels("flushed")

    def store_read(self, cache: str, trusted: bool) -> None:
        self._reads[cache, not trusted].inc()

    def waited(self, trusted: bool) -> None:
        self._waited[trusted].inc()

    def channel_lost(self) -> None:
        self._lost.inc()

    def flushed(self) -> None:
        self._flushed.inc()


class NoFenceMetrics(FenceMetrics):
    """Counts nothing (a fence built without a registry: tests, tools)."""

    def __init__(self) -> None:
        pass

    def store_read(self, cache: str, trusted: bool) -> None:
        pass

    def waited(self, trusted: bool) -> None:
        pass

    def channel_lost(self) -> None:
        pass

    def flushed(self) -> None:
        pass
