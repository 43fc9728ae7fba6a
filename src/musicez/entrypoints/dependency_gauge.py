"""`musicez_dependency_up{dependency}`: 1 while Redis / the database answer, 0 while they do not."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge

from musicez.adapters.outages import DATABASE, REDIS


def watch_dependencies(registry: CollectorRegistry) -> Callable[[], None]:
    """Start reporting; the returned function stops it (at shutdown)."""
    gauge = Gauge(
        "musicez_dependency_up",
        "1 while the dependency answers, 0 while it does not (as this process last saw it)",
        ["dependency"],
        registry=registry,
        multiprocess_mode="livemin",
    )
    listeners = []
    for dependency in (REDIS, DATABASE):
        child = gauge.labels(dependency.name)

        def listener(up: bool, child: Gauge = child) -> None:
            child.set(1 if up else 0)

        dependency.listen(listener)
        listeners.append((dependency, listener))

    def stop() -> None:
        for dependency, listener in listeners:
            dependency.unlisten(listener)

    return stop
