"""Mail written as `.eml` files into a folder: for tests, staging and mail pick-up daemons."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from musicez.adapters.mail.message import build_message
from musicez.application.ports import OutgoingMail


class OutboxMailer:
    def __init__(self, folder: Path, sender: str) -> None:
        self._folder = folder
        self._sender = sender

    async def send(self, mail: OutgoingMail) -> None:
        data = bytes(build_message(mail, self._sender))
        await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self._folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tmp.rename(self._folder / name)  # readers never see a half-written message
