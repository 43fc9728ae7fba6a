"""Security events: a structured log line and a Prometheus counter each."""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry, Counter

# Field names that must never carry a value into a log line, whatever a caller passes.
_SECRET_FIELDS = frozenset({"password", "token", "refresh_token", "access_token", "key", "secret", "api_key"})


class LogEventSink:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._log = structlog.get_logger("musicez.security")
        self._counter = Counter("musicez_security_events", "Security events by name", ["event"], registry=registry)

    def record(self, event: str, **fields: object) -> None:
        clean = {k: ("[redacted]" if k in _SECRET_FIELDS else v) for k, v in fields.items() if v is not None}
        self._counter.labels(event=event).inc()
        self._log.info(event, **clean)
