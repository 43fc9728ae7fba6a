"""The mail adapters and internationalised addresses (RFC 6531/6532): a non-ASCII address is
written into `To:` as UTF-8 (never as an RFC 2047 encoded-word, which no address may hold) and
goes over SMTP with the SMTPUTF8 option; an ASCII address is mailed as it always was."""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from musicez.adapters.mail.outbox import OutboxMailer
from musicez.adapters.mail.smtp import SmtpMailer, SmtpTarget
from musicez.application.ports import OutgoingMail
from tests.support.processes import free_port

SENDER = "MusicEZ <no-reply@musicez.test>"
INTERNATIONAL = f"\uff53\uff54\uff52\uff41\u00dfe-{uuid.uuid4().hex[:8]}@Example.com"  # full-width "stra", then ß
ASCII = f"alice-{uuid.uuid4().hex[:8]}@example.com"


class Inbox:
    """An aiosmtpd handler keeping each envelope: sender, recipients, MAIL options, raw message."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], list[str], bytes]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.received.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    list(envelope.mail_options),
                    envelope.original_content or envelope.content,
                )
            )
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[SmtpTarget, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield SmtpTarget("127.0.0.1", port, None, None, use_tls=False, start_tls=False), inbox
    finally:
        controller.stop()


def mail_to(address: str) -> OutgoingMail:
    return OutgoingMail(to=address, subject="Reset your MusicEZ password", body="Follow the link.\n")


def to_header(raw: bytes) -> bytes:
    [header] = [line for line in raw.splitlines() if line.startswith(b"To:")]
    return header


async def test_the_outbox_writes_a_non_ascii_address_as_utf8(tmp_path: Path) -> None:
    await OutboxMailer(tmp_path, SENDER).send(mail_to(INTERNATIONAL))
    [raw] = [path.read_bytes() for path in tmp_path.glob("*.eml")]
    assert to_header(raw) == b"To: " + INTERNATIONAL.encode("utf-8")
    assert b"=?" not in to_header(raw)
    assert email.message_from_bytes(raw, policy=email.policy.default)["To"] == INTERNATIONAL


async def test_the_outbox_writes_an_ascii_address_as_before(tmp_path: Path) -> None:
    sender = "MusicEZ Müller <no-reply@musicez.test>"
    await OutboxMailer(tmp_path, sender).send(mail_to(ASCII))
    [raw] = [path.read_bytes() for path in tmp_path.glob("*.eml")]
    assert raw.isascii()  # a non-ASCII display name stays an encoded-word, where one is allowed
    assert to_header(raw) == f"To: {ASCII}".encode()
    assert b"\r\n" not in raw  # the default policy's line ends, as always
    assert email.message_from_bytes(raw, policy=email.policy.default)["From"] == sender


async def test_smtp_sends_a_non_ascii_address_with_smtputf8(smtp: tuple[SmtpTarget, Inbox]) -> None:
    target, inbox = smtp
    await SmtpMailer(target, SENDER).send(mail_to(INTERNATIONAL))
    [(sender, recipients, options, raw)] = [r for r in inbox.received if INTERNATIONAL in r[1]]
    assert (sender, recipients) == ("no-reply@musicez.test", [INTERNATIONAL])
    assert "SMTPUTF8" in options
    assert to_header(raw) == b"To: " + INTERNATIONAL.encode("utf-8")
    assert email.message_from_bytes(raw, policy=email.policy.default)["To"] == INTERNATIONAL


async def test_smtp_sends_an_ascii_address_without_smtputf8(smtp: tuple[SmtpTarget, Inbox]) -> None:
    target, inbox = smtp
    await SmtpMailer(target, SENDER).send(mail_to(ASCII))
    [(_, recipients, options, raw)] = [r for r in inbox.received if ASCII in r[1]]
    assert recipients == [ASCII]
    assert "SMTPUTF8" not in options
    assert to_header(raw) == f"To: {ASCII}".encode()
