"""Development mail: the message, link included, goes to the log, clearly marked."""

from __future__ import annotations

import logging

from musicez.application.ports import OutgoingMail

log = logging.getLogger("musicez.mail")


class LogMailer:
    async def send(self, mail: OutgoingMail) -> None:
        log.warning(
            "DEVELOPMENT MAIL (not sent; set MUSICEZ_SMTP_URL or MUSICEZ_MAIL_OUTBOX to deliver it)\n"
            "To: %s\nSubject: %s\n\n%s",
            mail.to,
            mail.subject,
            mail.body,
        )
