"""Request metrics are batched in the worker (outer_middleware.RequestMetrics): what reaches
prometheus_client must be exactly what observing every request one by one would have left."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from musicez.entrypoints.http.outer_middleware import MAX_PENDING, RequestMetrics

BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
METHODS = st.sampled_from(["GET", "POST", "DELETE", "BREW", "get", "PROPFIND"])
ROUTES = st.sampled_from(["/health/live", "/auth/me", "unmatched"])
STATUSES = st.sampled_from([200, 401, 404, 429, 500])
DURATIONS = st.one_of(st.sampled_from(BOUNDS), st.floats(min_value=0, max_value=10, allow_nan=False))
REQUESTS = st.lists(st.tuples(METHODS, ROUTES, STATUSES, DURATIONS), max_size=200)
KNOWN = {"GET", "POST", "DELETE"}


def reference(requests: list[tuple[str, str, int, float]]) -> CollectorRegistry:
    """Every request observed on its own, the way prometheus_client is meant to be called."""
    registry = CollectorRegistry()
    counter = Counter("musicez_http_requests", "", ["method", "route", "status"], registry=registry)
    histogram = Histogram(
        "musicez_http_request_duration_seconds", "", ["method", "route"], registry=registry, buckets=BOUNDS
    )
    for method, route, status, seconds in requests:
        label = method if method in KNOWN else "OTHER"
        counter.labels(label, route, str(status)).inc()
        histogram.labels(label, route).observe(seconds)
    return registry


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def same(
    got: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    want: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) <= 1e-9 * max(1.0, abs(value)), key


@settings(max_examples=300, deadline=None)
@given(REQUESTS, st.integers(min_value=0, max_value=200))
def test_a_batch_writes_what_observing_each_request_would(
    requests: list[tuple[str, str, int, float]], split: int
) -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry, flush_after=3600)  # only `settle` writes in this test

    async def run() -> None:
        for request in requests[:split]:
            metrics.record(*request)
        await metrics.settle(several_processes=False)  # a scrape in the middle of the traffic
        for request in requests[split:]:
            metrics.record(*request)
        await metrics.settle(several_processes=False)

    asyncio.run(run())
    same(samples(registry), samples(reference(requests)))


async def test_samples_reach_prometheus_client_on_their_own_within_the_flush_interval() -> None:
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry, flush_after=0.01)
    for _ in range(5):
        metrics.record("GET", "/health/live", 200, 0.002)
    labels = {"method": "GET", "route": "/health/live", "status": "200"}
    assert registry.get_sample_value("musicez_http_requests_total", labels) is None  # not yet: batched
    await asyncio.sleep(0.05)
    assert registry.get_sample_value("musicez_http_requests_total", labels) == 5
    bucket = {"method": "GET", "route": "/health/live", "le": "0.0025"}
    assert registry.get_sample_value("musicez_http_request_duration_seconds_bucket", bucket) == 5
    metrics.record("GET", "/health/live", 200, 0.002)  # the timer is armed again by the next sample
    await asyncio.sleep(0.05)
    assert registry.get_sample_value("musicez_http_requests_total", labels) == 6


async def test_made_up_methods_never_grow_the_pending_table() -> None:
    metrics = RequestMetrics(CollectorRegistry(), flush_after=3600)
    for index in range(1_000):
        metrics.record(f"X-{index}", "unmatched", 405, 0.001)
    assert len(metrics._pending) == 1  # noqa: SLF001 - OTHER, unmatched, 405: the table's size is the point
    await metrics.settle(several_processes=False)


def test_samples_are_written_even_when_the_timer_can_no_longer_fire() -> None:
    """A timer armed on an event loop that has since closed never fires: past MAX_PENDING samples
    of one label set the batch is written anyway, so nothing grows without bound."""
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry, flush_after=3600)

    async def some_requests() -> None:
        for _ in range(10):
            metrics.record("GET", "/health/live", 200, 0.001)

    asyncio.run(some_requests())  # arms a timer on a loop that is then closed

    async def more_requests() -> None:
        for _ in range(MAX_PENDING):
            metrics.record("GET", "/health/live", 200, 0.001)

    asyncio.run(more_requests())
    labels = {"method": "GET", "route": "/health/live", "status": "200"}
    assert registry.get_sample_value("musicez_http_requests_total", labels) == MAX_PENDING
