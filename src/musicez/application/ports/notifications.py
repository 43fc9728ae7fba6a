"""Outgoing ports: mail to users and security events to the logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from musicez.domain.events import SecurityEvent


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


class EventSink(Protocol):
    """Security events (`musicez.domain.events`): ids and prefixes only, never a secret."""

    def record(self, event: SecurityEvent) -> None: ...
