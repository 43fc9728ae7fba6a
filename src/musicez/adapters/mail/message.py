"""Turning an outgoing mail into an RFC 5322 message."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from musicez.application.ports import OutgoingMail

# RFC 6532: an address that is not ASCII goes into the header as UTF-8; an RFC 2047 encoded-word
# is not allowed inside an address (`To: =?utf-8?b?…?=@example.com` reaches no one). The default
# policy otherwise, so a message between ASCII addresses is written exactly as before.
_INTERNATIONAL = policy.default.clone(utf8=True)


def build_message(mail: OutgoingMail, sender: str) -> EmailMessage:
    international = not (mail.to.isascii() and parseaddr(sender)[1].isascii())
    message = EmailMessage(policy=_INTERNATIONAL) if international else EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="musicez.local")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message
