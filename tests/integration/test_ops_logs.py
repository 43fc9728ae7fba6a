"""The integration flows with the server's log output captured: secrets never appear, named
security events do, and every line logged while serving a request carries its request id."""

from __future__ import annotations

import asyncio
import email
import io
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry

from musicez.application.api_keys import CreateApiKey, RevokeApiKey
from musicez.entrypoints.container import build_container
from musicez.entrypoints.http.app import create_app
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, bearer, create_api_key

NEW_PASSWORD = "Another-Strong-Passphrase-42"
CHANGED_PASSWORD = "Yet-Another-Passphrase-77"
WRONG_PASSWORDS = [f"Wrong-Password-{n:04d}" for n in range(1, 5)]
NAMED_EVENTS = {
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "throttled",
    "refresh_reused",
    "sessions_revoked",
    "password_reset_requested",
    "password_reset_completed",
    "api_key_created",
    "api_key_revoked",
}
OWN_REQUEST_ID = "ops-logs-request-0001"


def server_lines_only(record: logging.LogRecord) -> bool:
    """The in-process test client (httpx) logs into the same root logger: not the server's lines."""
    return not record.name.startswith(("httpx", "httpcore"))


def capture_root(stream: io.StringIO) -> logging.Handler:
    root = logging.getLogger()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(root.handlers[0].formatter)  # the very lines the server writes
    capture.addFilter(server_lines_only)
    return capture


@contextmanager
def server_log() -> Iterator[io.StringIO]:
    """The server's own log lines written while the block runs, as the server writes them (make
    the app first: its formatter is the one used)."""
    stream = io.StringIO()
    capture = capture_root(stream)
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield stream
    finally:
        root.removeHandler(capture)


@dataclass
class Run:
    client: AsyncTestClient[Litestar]
    app: Litestar
    outbox: Path
    log: io.StringIO
    secrets: dict[str, str] = field(default_factory=dict)
    request_ids: set[str] = field(default_factory=set)

    def secret(self, what: str, value: str) -> str:
        self.secrets[f"{what} #{len(self.secrets)}"] = value
        return value

    def lines(self) -> list[str]:
        return [line for line in self.log.getvalue().splitlines() if line.strip()]

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        self.request_ids.add(response.headers["x-request-id"])
        return response

    def tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        access = body["access_token"]
        self.secret("access token", access)
        self.secret("access token signature", access.rsplit(".", 1)[1])
        refresh = body["refresh_token"]
        self.secret("refresh token", refresh)
        self.secret("refresh token secret part", refresh[44:])  # chars past the two ids
        return body


@pytest.fixture(params=[("json", "INFO"), ("console", "DEBUG")], ids=["json-info", "console-debug"])
async def run(request: pytest.FixtureRequest, make_settings: MakeSettings, tmp_path: Path) -> AsyncIterator[Run]:
    log_format, level = request.param
    outbox = tmp_path / "ops-outbox"
    settings = make_settings(
        log_format=log_format,
        log_level=level,
        mail_outbox=str(outbox),
        login_rate_limit="3/minute",
        register_rate_limit="6/minute",
        refresh_reuse_grace=0,
    )
    app = create_app(settings=settings)  # configures logging: one handler on the root logger
    root = logging.getLogger()
    stream = io.StringIO()
    capture = capture_root(stream)
    root.addHandler(capture)
    try:
        async with AsyncTestClient(app) as client:
            yield Run(client, app, outbox, stream)
    finally:
        root.removeHandler(capture)


async def read_reset_token(outbox: Path) -> str:
    for _ in range(200):
        mails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
        if mails:
            message = email.message_from_bytes(mails[-1].read_bytes(), policy=policy.default)
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content())
            assert found, body.get_content()
            return found.group(1)
        await asyncio.sleep(0.025)
    raise AssertionError("no reset mail in the outbox")


async def run_the_flows(run: Run) -> None:
    call = run.call
    address = unique_email("logs")
    run.secret("password", STRONG_PASSWORD)

    registered = await call(
        "POST",
        "/auth/register",
        json={"email": address, "password": STRONG_PASSWORD},
        headers={"X-Request-ID": OWN_REQUEST_ID},
    )
    assert registered.status_code == 201
    first = run.tokens(registered.json())

    # Weak passwords are secrets too, even rejected ones.
    weak = await call(
        "POST", "/auth/register", json={"email": unique_email(), "password": run.secret("weak", "password1234")}
    )
    assert weak.status_code == 422

    login = await call("POST", "/auth/login", json={"email": address, "password": STRONG_PASSWORD})
    assert login.status_code == 200
    second = run.tokens(login.json())
    me = await call("GET", "/auth/me", headers=bearer(second))
    assert me.status_code == 200

    # Refresh, then the rotated-away token again: theft (grace 0), the session ends.
    rotated = await call("POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert rotated.status_code == 200
    run.tokens(rotated.json())
    stolen = await call("POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert stolen.json()["code"] == "refresh_token_reused"

    # Tampered credentials are logged by reason, never by value.
    tampered = first["access_token"][:-4] + ("AAAA" if not first["access_token"].endswith("AAAA") else "BBBB")
    run.secret("tampered access token", tampered)
    assert (await call("GET", "/auth/me", headers={"Authorization": f"Bearer {tampered}"})).status_code == 401

    # Failed logins for an existing and an unknown address, until throttled.
    victim = unique_email("victim")
    assert (
        await call("POST", "/auth/register", json={"email": victim, "password": STRONG_PASSWORD})
    ).status_code == 201
    for wrong in WRONG_PASSWORDS:
        run.secret("wrong password", wrong)
        failed = await call("POST", "/auth/login", json={"email": victim, "password": wrong})
        assert failed.status_code in (401, 429)
    assert failed.status_code == 429
    ghost = await call("POST", "/auth/login", json={"email": unique_email("ghost"), "password": WRONG_PASSWORDS[0]})
    assert ghost.status_code == 401
    registrations = [
        (await call("POST", "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD})).status_code
        for _ in range(6)
    ]
    assert 429 in registrations

    # Log out everywhere.
    relogin = run.tokens(
        (await call("POST", "/auth/login", json={"email": address, "password": STRONG_PASSWORD})).json()
    )
    assert (await call("POST", "/auth/logout-all", headers=bearer(relogin))).status_code == 204

    # Forgot + reset through the outbox.
    assert (await call("POST", "/auth/password/forgot", json={"email": address})).status_code == 202
    assert (await call("POST", "/auth/password/forgot", json={"email": unique_email("nobody")})).status_code == 202
    reset_token = run.secret("reset token", await read_reset_token(run.outbox))
    run.secret("new password", NEW_PASSWORD)
    reset = await call("POST", "/auth/password/reset", json={"token": reset_token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204
    again = await call("POST", "/auth/password/reset", json={"token": reset_token, "new_password": NEW_PASSWORD})
    assert again.json()["code"] == "invalid_reset_token"

    after = run.tokens((await call("POST", "/auth/login", json={"email": address, "password": NEW_PASSWORD})).json())
    run.secret("changed password", CHANGED_PASSWORD)
    changed = await call(
        "POST",
        "/auth/password/change",
        json={"current_password": NEW_PASSWORD, "new_password": CHANGED_PASSWORD},
        headers=bearer(after),
    )
    assert changed.status_code == 204

    # API keys: create and revoke as the CLI does (a container of its own), use, and a made-up key.
    container = build_container(run.app.state.musicez.settings, CollectorRegistry())
    try:
        async with container() as scope:
            created = await (await scope.get(CreateApiKey)).execute("ops-logs-test")
        key = run.secret("api key", created.secret)
        run.secret("api key secret part", key[36:])
        used = await call("GET", "/auth/me", headers={"X-API-Key": key})
        assert used.status_code == 200
        assert used.json()["kind"] == "api_key"
        async with container() as scope:
            await (await scope.get(RevokeApiKey)).execute(created.key.id)
    finally:
        await container.close()
    revoked = await call("GET", "/auth/me", headers={"X-API-Key": key})
    assert revoked.json()["code"] == "invalid_api_key"
    forged = run.secret("forged api key", key[:36] + "Z" * (len(key) - 36))
    assert (await call("GET", "/auth/me", headers={"X-API-Key": forged})).status_code == 401


async def test_no_secret_is_logged_and_every_security_event_is(run: Run) -> None:
    await run_the_flows(run)
    lines = run.lines()
    assert lines, "nothing was captured"
    everything = "\n".join(lines)
    leaked = {what: value for what, value in run.secrets.items() if value in everything}
    assert not leaked, f"secrets in the logs: {sorted(leaked)}"
    # Also no bcrypt hash and no Authorization header value.
    assert "$2b$" not in everything
    assert "Bearer ey" not in everything

    missing = {name for name in NAMED_EVENTS if not re.search(rf"\b{name}\b", everything)}
    assert not missing, f"security events not logged: {sorted(missing)}"


async def test_json_lines_carry_the_request_id(make_settings: MakeSettings, tmp_path: Path) -> None:
    app = create_app(settings=make_settings(log_format="json", mail_outbox=str(tmp_path / "outbox")))
    root = logging.getLogger()
    stream = io.StringIO()
    capture = capture_root(stream)
    async with AsyncTestClient(app) as client:
        root.addHandler(capture)  # from the first request on: start-up lines belong to no request
        try:
            run = Run(client, app, tmp_path / "outbox", stream)
            address = unique_email("json")
            await run.call(
                "POST",
                "/auth/register",
                json={"email": address, "password": STRONG_PASSWORD},
                headers={"X-Request-ID": OWN_REQUEST_ID},
            )
            for password in (STRONG_PASSWORD, WRONG_PASSWORDS[0]):
                await run.call("POST", "/auth/login", json={"email": address, "password": password})
            await run.call("POST", "/auth/password/forgot", json={"email": address})
            await read_reset_token(run.outbox)  # the mail is sent after the response, in a task
            await asyncio.sleep(0.05)
        finally:
            root.removeHandler(capture)

    records = [json.loads(line) for line in run.lines()]  # every line is one JSON object
    events = {r["event"] for r in records}
    assert {"user_registered", "login_succeeded", "login_failed", "password_reset_requested"} <= events
    for record in records:
        assert record.get("request_id") in run.request_ids, record
        assert {"timestamp", "level", "logger"} <= record.keys()
    registered = next(r for r in records if r["event"] == "user_registered")
    assert registered["request_id"] == OWN_REQUEST_ID


async def test_console_lines_in_development_name_the_request_id(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(log_format="auto"))  # development: readable lines
    root = logging.getLogger()
    stream = io.StringIO()
    capture = capture_root(stream)
    async with AsyncTestClient(app) as client:
        root.addHandler(capture)
        try:
            response = await client.post(
                "/auth/login",
                json={"email": unique_email("dev"), "password": STRONG_PASSWORD},
                headers={"X-Request-ID": OWN_REQUEST_ID},
            )
            assert response.status_code == 401
        finally:
            root.removeHandler(capture)
    line = next(line for line in stream.getvalue().splitlines() if "login_failed" in line)
    assert f"request_id={OWN_REQUEST_ID}" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


async def wait_for_mail(outbox: Path, subject: str) -> None:
    for _ in range(200):
        for path in outbox.glob("*.eml"):
            if subject in email.message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"]:
                return
        await asyncio.sleep(0.025)
    raise AssertionError(f"no {subject!r} mail in the outbox")


def stored_secrets(database: Path) -> dict[str, list[str]]:
    """What the database keeps instead of each secret (bcrypt hashes, MACs), read back."""
    queries = {
        "password hash": "SELECT password_hash FROM users",
        "reset token MAC": "SELECT token_hash FROM password_reset_tokens",
        "security link MAC": "SELECT token_hash FROM security_links",
        "API key hash": "SELECT secret_hash FROM api_keys",
    }
    with closing(sqlite3.connect(database)) as connection:
        return {what: [row[0] for row in connection.execute(sql)] for what, sql in queries.items()}


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_debug_level_is_the_service_s_own_lines_only(
    log_format: str, make_settings: MakeSettings, tmp_path: Path
) -> None:
    """MUSICEZ_LOG_LEVEL=DEBUG on the development database (SQLite): aiosqlite's debug lines print
    every statement with its parameters, so only `musicez.*` may log below INFO."""
    outbox = tmp_path / "debug-outbox"
    settings = make_settings(
        log_format=log_format, log_level="DEBUG", mail_outbox=str(outbox), database_url=None, redis_url=None
    )
    app = create_app(settings=settings)
    with server_log() as log:
        async with AsyncTestClient(app) as client:
            run = Run(client, app, outbox, log)
            address = unique_email("debug")
            password = run.secret("password", STRONG_PASSWORD)
            registered = await run.call("POST", "/auth/register", json={"email": address, "password": password})
            assert registered.status_code == 201
            run.tokens(registered.json())
            assert (await run.call("POST", "/auth/password/forgot", json={"email": address})).status_code == 202
            token = run.secret("reset token", await read_reset_token(outbox))
            reset = {"token": token, "new_password": run.secret("new password", NEW_PASSWORD)}
            assert (await run.call("POST", "/auth/password/reset", json=reset)).status_code == 204
            login = {"email": address, "password": NEW_PASSWORD, "device_name": "Debug laptop"}
            run.tokens((await run.call("POST", "/auth/login", json=login)).json())  # a "new sign-in" link
            created = await create_api_key(client, "debug-logs")
            run.secret("api key", created.secret)
            await wait_for_mail(outbox, "New sign-in")  # sent after its response, its link stored first
            logging.getLogger("musicez.test").debug("own debug line")
    stored = stored_secrets(settings.data_path / "musicez.db")
    assert all(stored.values()), stored  # every kind was written, so its absence below means something
    for what, values in stored.items():
        run.secrets.update({f"{what} #{n}": value for n, value in enumerate(values)})
    everything = "\n".join(run.lines())
    leaked = {what for what, value in run.secrets.items() if value in everything}
    assert not leaked, f"secrets in the logs: {sorted(leaked)}"
    assert "$2b$" not in everything
    assert "own debug line" in everything  # the service's own loggers still log at DEBUG
