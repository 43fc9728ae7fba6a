"""Mail through an SMTP server, with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from musicez.adapters.mail.message import build_message
from musicez.application.ports import OutgoingMail
from musicez.domain.redaction import hide_secrets

SMTP_TIMEOUT = 10.0


@hide_secrets
@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: upgrade when the server offers it

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """`smtp://user:pass@host:587?starttls=true` or `smtps://host:465` (implicit TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("MUSICEZ_SMTP_URL must look like smtp://[user:pass@]host[:port] or smtps://…")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        starttls = {"true": True, "1": True, "false": False, "0": False}.get(query.get("starttls", ""))
        try:
            port = parts.port
        except ValueError:  # its message quotes the text it read as the port: part of a password, say
            raise ValueError(
                "the port could not be read; percent-encode special characters of the "
                "user name and password (e.g. '/' as %2F, '?' as %3F, '#' as %23, '@' as %40)"
            ) from None
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 587 if starttls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=False if implicit else starttls,
        )


class SmtpMailer:
    def __init__(self, target: SmtpTarget, sender: str) -> None:
        self._target = target
        self._sender = sender

    async def send(self, mail: OutgoingMail) -> None:
        """aiosmtplib sends with the SMTPUTF8 option, and writes the headers as UTF-8, when an
        address is not ASCII (RFC 6531); a server without SMTPUTF8 refuses such a mail."""
        t = self._target
        await aiosmtplib.send(
            build_message(mail, self._sender),
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            timeout=SMTP_TIMEOUT,
        )
