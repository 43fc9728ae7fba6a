"""`MUSICEZ_SMTP_URL`: the forms it takes, and the ports and TLS modes they mean."""

from __future__ import annotations

import pytest

from musicez.adapters.mail.smtp import SmtpTarget


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpTarget("mail.example", 25, None, None, use_tls=False, start_tls=None)),
        ("smtp://mail.example:2525", SmtpTarget("mail.example", 2525, None, None, use_tls=False, start_tls=None)),
        (
            "smtp://mail.example?starttls=true",
            SmtpTarget("mail.example", 587, None, None, use_tls=False, start_tls=True),
        ),
        ("smtp://mail.example?starttls=1", SmtpTarget("mail.example", 587, None, None, use_tls=False, start_tls=True)),
        (
            "smtp://mail.example?starttls=FALSE",
            SmtpTarget("mail.example", 25, None, None, use_tls=False, start_tls=False),
        ),
        (
            "smtp://mail.example?starttls=maybe",
            SmtpTarget("mail.example", 25, None, None, use_tls=False, start_tls=None),
        ),
        ("smtps://mail.example", SmtpTarget("mail.example", 465, None, None, use_tls=True, start_tls=False)),
        (
            "smtps://mail.example:4650?starttls=true",
            SmtpTarget("mail.example", 4650, None, None, use_tls=True, start_tls=False),
        ),
        (
            "smtp://user%40example.com:p%3Ass%2Fword@mail.example:587",
            SmtpTarget("mail.example", 587, "user@example.com", "p:ss/word", use_tls=False, start_tls=None),
        ),
        ("smtp://apikey@mail.example", SmtpTarget("mail.example", 25, "apikey", None, use_tls=False, start_tls=None)),
    ],
)
def test_an_smtp_url_is_parsed(url: str, expected: SmtpTarget) -> None:
    assert SmtpTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["", "mail.example", "http://mail.example", "smtp://", "smtp:///path", "lmtp://host"])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="MUSICEZ_SMTP_URL must look like"):
        SmtpTarget.parse(url)
