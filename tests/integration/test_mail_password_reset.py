"""Forgot → email → reset, through a real SMTP server (aiosmtpd) and a real server process."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import ServerProcess, free_port, running_server

pytestmark = pytest.mark.slow

RESET_URL = "https://app.musicez.test/reset-password"
MAIL_FROM = "MusicEZ <no-reply@musicez.test>"
NEW_PASSWORD = "Another-Stapler-Horse-42"
MAIL_WAIT = 15.0


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for _, rcpt, m in self.received if address in rcpt]

    def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        deadline = time.monotonic() + MAIL_WAIT
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} within {MAIL_WAIT} s")


class Refusing:
    """An SMTP server that refuses every recipient."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        return "550 5.7.1 Relaying denied"


class SmtpServer:
    """aiosmtpd on a fixed loopback port, with an inbox; it can be taken away and brought back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self, handler: Any = None) -> None:
        self._controller = Controller(handler or self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def inbox(smtp: SmtpServer) -> Inbox:
    return smtp.inbox


@pytest.fixture(scope="module")
def server(process_env: dict[str, str], process_dir: Path, smtp: SmtpServer) -> Iterator[ServerProcess]:
    env = {
        **process_env,
        "MUSICEZ_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "MUSICEZ_PASSWORD_RESET_URL": RESET_URL,
        "MUSICEZ_MAIL_FROM": MAIL_FROM,
    }
    env.pop("MUSICEZ_MAIL_OUTBOX", None)
    with running_server(env, process_dir / "mail") as started:
        yield started


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _token_from(message: EmailMessage) -> str:
    links: list[str] = re.findall(r"https?://\S+", _text(message))
    resets = [link for link in links if link.startswith(RESET_URL + "?")]
    assert len(resets) == 1, links
    query = parse_qs(urlsplit(resets[0]).query)
    assert list(query) == ["token"]
    return query["token"][0]


def _code(response: httpx.Response) -> str:
    code: str = response.json()["code"]
    return code


def test_forgot_email_reset_flow(http: httpx.Client, inbox: Inbox, server: ServerProcess) -> None:
    email = unique_email("reset")
    registered = http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    assert registered.status_code == 201
    other_device = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
    old_sessions = [registered.json(), other_device]

    forgot = http.post("/auth/password/forgot", json={"email": f"  {email.upper()} "})
    assert forgot.status_code == 202, forgot.text

    (message,) = inbox.wait_for(email)
    sender, recipients, _ = next(r for r in inbox.received if email in r[1])
    assert recipients == [email]
    assert "no-reply@musicez.test" in sender
    assert message["From"] == MAIL_FROM
    assert message["To"] == email
    assert "password" in message["Subject"].lower()
    assert message.get_content_type() == "text/plain"
    text = _text(message)
    assert "30 minutes" in text  # when the link expires
    assert "did not ask" in text.lower()  # what to do if it was not you
    token = _token_from(message)
    assert len(token) >= 43  # ≥ 256 bits
    assert token not in server.log()

    weak = http.post("/auth/password/reset", json={"token": token, "new_password": "short"})
    assert weak.status_code == 422, weak.text
    assert _code(weak) == "weak_password"

    reset = http.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text

    old = http.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert old.status_code == 401
    assert _code(old) == "invalid_credentials"
    new = http.post("/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert new.status_code == 200, new.text
    assert http.get("/auth/me", headers={"Authorization": f"Bearer {new.json()['access_token']}"}).status_code == 200

    for session in old_sessions:
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert me.status_code == 401, me.text
        assert _code(me) == "token_revoked"
        refreshed = http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert refreshed.status_code == 401, refreshed.text
        assert _code(refreshed) == "invalid_refresh_token"

    again = http.post("/auth/password/reset", json={"token": token, "new_password": "Yet-Another-Password-77"})
    assert again.status_code == 400, again.text
    assert _code(again) == "invalid_reset_token"
    assert http.post("/auth/login", json={"email": email, "password": NEW_PASSWORD}).status_code == 200


def test_a_completed_reset_voids_the_other_link(http: httpx.Client, inbox: Inbox) -> None:
    """v1.1: a new link no longer voids the old one (several may be live); a completed reset does."""
    email = unique_email("relink")
    http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).raise_for_status()
    assert http.post("/auth/password/forgot", json={"email": email}).status_code == 202
    first = _token_from(inbox.wait_for(email, 1)[0])
    assert http.post("/auth/password/forgot", json={"email": email}).status_code == 202
    second = _token_from(inbox.wait_for(email, 2)[1])
    assert first != second
    assert http.post("/auth/password/reset", json={"token": second, "new_password": NEW_PASSWORD}).status_code == 204
    stale = http.post("/auth/password/reset", json={"token": first, "new_password": NEW_PASSWORD + "x"})
    assert stale.status_code == 400
    assert _code(stale) == "invalid_reset_token"


def test_forgot_for_an_unknown_address_sends_nothing_and_answers_the_same(http: httpx.Client, inbox: Inbox) -> None:
    known = unique_email("known")
    http.post("/auth/register", json={"email": known, "password": STRONG_PASSWORD}).raise_for_status()
    unknown = unique_email("nobody")

    for_unknown = http.post("/auth/password/forgot", json={"email": unknown})
    for_known = http.post("/auth/password/forgot", json={"email": known})
    assert for_unknown.status_code == for_known.status_code == 202
    assert for_unknown.content == for_known.content
    assert for_unknown.headers["content-type"] == for_known.headers["content-type"]

    inbox.wait_for(known)  # the known address's mail went out, after the unknown one was handled
    time.sleep(0.5)
    assert inbox.to(unknown) == []


def _wait_log(server: ServerProcess, needle: str, count: int) -> str:
    deadline = time.monotonic() + MAIL_WAIT
    while time.monotonic() < deadline:
        log = server.log()
        if log.count(needle) >= count:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not logged {count} time(s) within {MAIL_WAIT} s")


FAILED = "password reset mail failed"


def test_smtp_down_or_refusing_still_answers_202_and_logs_without_the_token(
    http: httpx.Client, server: ServerProcess, smtp: SmtpServer
) -> None:
    email = unique_email("smtp-down")
    http.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD}).raise_for_status()
    failures = server.log().count(FAILED)

    smtp.stop()  # nothing listens on the SMTP port any more
    try:
        forgot = http.post("/auth/password/forgot", json={"email": email})
        assert forgot.status_code == 202, forgot.text
        _wait_log(server, FAILED, failures + 1)

        smtp.start(Refusing())  # a server that answers, and refuses the recipient
        try:
            forgot = http.post("/auth/password/forgot", json={"email": email})
            assert forgot.status_code == 202, forgot.text
            log = _wait_log(server, FAILED, failures + 2)
        finally:
            smtp.stop()
    finally:
        smtp.start()

    assert "token=" not in log
    assert RESET_URL not in log
    assert "Traceback" not in log
    assert http.get("/health/live").status_code == 200
    # and mail flows again once the SMTP server is back
    assert http.post("/auth/password/forgot", json={"email": email}).status_code == 202
    smtp.inbox.wait_for(email)
