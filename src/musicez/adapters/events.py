"""Security events: a structured log line and a Prometheus counter each."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import structlog
from prometheus_client import CollectorRegistry, Counter

from musicez.application.client_context import bound_client
from musicez.application.macs import client_id as mac_client_id
from musicez.application.ports import KeyedHasher
from musicez.domain.events import SecurityEvent

# The address of the client whose request is being served is bound by the HTTP layer
# (application/client_context.py); each security event carries a keyed hash of it.
_EPOCH = date(1970, 1, 1)


class ClientIds:
    """A privacy-preserving client id: HMAC under the server key of the UTC date and the address,
    so one address is one id for a day, ids of different days do not link, and the address
    cannot be recovered (or guessed from the 2^32 IPv4 space) without the key."""

    __slots__ = ("_cache", "_macs")

    CACHE_SIZE = 4096  # (day, address) pairs remembered; cleared when full

    def __init__(self, macs: KeyedHasher) -> None:
        self._macs = macs
        self._cache: dict[tuple[int, str], str] = {}

    def of(self, address: str, now: datetime | None = None) -> str:
        day = int((time.time() if now is None else now.timestamp()) // 86400)  # the UTC day number
        cached = self._cache.get((day, address))
        if cached is not None:
            return cached
        text = (_EPOCH + timedelta(days=day)).isoformat()
        client_id = mac_client_id(self._macs, text, address)
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[(day, address)] = client_id
        return client_id

    def current(self) -> str | None:
        address = bound_client()
        return None if address is None else self.of(address)


# Field names that must never carry a value into a log line, whatever a caller passes.
_SECRET_FIELDS = frozenset(
    {"password", "token", "refresh_token", "access_token", "key", "secret", "api_key", "device_token"}
)


class LogEventSink:
    def __init__(self, registry: CollectorRegistry, client_ids: ClientIds | None = None) -> None:
        self._client_ids = client_ids
        self._log = structlog.get_logger("musicez.security")
        self._counter = Counter("musicez_security_events", "Security events by name", ["event"], registry=registry)

    def record(self, event: SecurityEvent) -> None:
        clean = {k: ("[redacted]" if k in _SECRET_FIELDS else v) for k, v in event.fields().items()}
        if self._client_ids is not None and "client_id" not in clean:
            client_id = self._client_ids.current()
            if client_id is not None:
                clean["client_id"] = client_id
        self._counter.labels(event=event.name).inc()
        self._log.info(event.name, **clean)
