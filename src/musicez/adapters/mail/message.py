"""Turning an outgoing mail into an RFC 5322 message."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from musicez.application.ports import OutgoingMail


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="musicez.local")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message
