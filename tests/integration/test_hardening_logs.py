"""No log format prints local variables: a forced 500 with a password in the body and a bearer
token in the header leaves neither in any log line, in the JSON and in the console format. And
no client-chosen path puts a line break or a terminal control into a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from dishka import Provider, Scope, provide
from litestar.testing import AsyncTestClient

from musicez.adapters.security.passwords import BcryptHasher
from musicez.application.accounts import Credentials
from musicez.application.authenticate import AuthenticateRequest
from musicez.application.ports import PasswordHasher
from musicez.domain.principal import Principal
from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.http.schemas import ChangePasswordBody, LoginBody, RefreshBody, RegisterBody, ResetPasswordBody
from tests.integration.test_ops_logs import capture_root, server_log
from tests.support.accounts import unique_email
from tests.support.api import MakeSettings

TRIGGER = "Explode-On-Purpose"
REGISTER_PASSWORD = f"{TRIGGER}-Register-Secret-1"
CURRENT_PASSWORD = "Listens-To-Jazz-At-Night-7"
NEW_PASSWORD = f"{TRIGGER}-New-Secret-2"


class ExplodingHasher(BcryptHasher):
    """The real hasher, failing with an unexpected error for passwords that carry TRIGGER."""

    async def hash(self, password: str) -> str:
        if TRIGGER in password:
            raise RuntimeError("hasher failed on purpose")
        return await super().hash(password)

    async def verify(self, password: str, password_hash: str) -> bool:
        if self.explode_on_verify:
            raise RuntimeError("hasher failed on purpose")
        return await super().verify(password, password_hash)

    explode_on_verify = False


class ExplodingHasherProvider(Provider):
    scope = Scope.APP

    def __init__(self, password_hasher: ExplodingHasher) -> None:
        super().__init__()
        self._password_hasher = password_hasher

    @provide
    def password_hasher(self) -> Iterator[PasswordHasher]:
        yield self._password_hasher


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_500_logs_no_password_and_no_token(make_settings: MakeSettings, log_format: str) -> None:
    password_hasher = ExplodingHasher(rounds=4, threads=1)
    app = create_app(
        ExplodingHasherProvider(password_hasher), settings=make_settings(log_format=log_format, log_level="DEBUG")
    )
    stream = io.StringIO()
    capture = capture_root(stream)
    logging.getLogger().addHandler(capture)
    try:
        async with AsyncTestClient(app) as client:
            failed = await client.post("/auth/register", json={"email": unique_email(), "password": REGISTER_PASSWORD})
            assert failed.status_code == 500
            created = await client.post("/auth/register", json={"email": unique_email(), "password": CURRENT_PASSWORD})
            assert created.status_code == 201, created.text
            token = created.json()["access_token"]
            password_hasher.explode_on_verify = True
            failed = await client.post(
                "/auth/password/change",
                json={"current_password": CURRENT_PASSWORD, "new_password": NEW_PASSWORD},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert failed.status_code == 500
    finally:
        logging.getLogger().removeHandler(capture)
        password_hasher.close()
    text = stream.getvalue()
    assert "hasher failed on purpose" in text  # the tracebacks were logged ...
    assert "Traceback" in text
    lines = text.splitlines()
    for secret in (REGISTER_PASSWORD, CURRENT_PASSWORD, NEW_PASSWORD, token, token.rsplit(".", 1)[1]):
        assert not [line for line in lines if secret in line], secret  # ... without a secret
    assert "locals" not in text


def test_commands_and_bodies_hide_passwords_in_their_repr() -> None:
    secret = "Very-Secret-Password-1"
    shown = [
        RegisterBody("a@example.com", secret),
        LoginBody("a@example.com", secret),
        RefreshBody(secret),
        ResetPasswordBody(secret, secret),
        ChangePasswordBody(secret, secret),
        Credentials("a@example.com", secret, "127.0.0.1"),
        Credentials("a@example.com", "Other-Password-2", "127.0.0.1", device_token=secret),
    ]
    for value in shown:
        assert secret not in repr(value), repr(value)
        assert secret not in str(value)
        assert "<hidden>" in repr(value)
    assert "a@example.com" in repr(shown[0])


# A session id that is a path of the client's choosing, percent-decoded by the server: a line
# break, an ESC starting a colour sequence, and a right-to-left override.
INJECTED_PATH = "/auth/sessions/x%0Afake%20log%20line%1B%5B31m%E2%80%AEevil"
ESCAPED_PATH = "/auth/sessions/x\\nfake log line\\x1b[31m\\u202eevil"


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize(
    ("error", "status", "said"),
    [
        (RuntimeError("authentication failed on purpose"), 500, "unhandled error on"),
        (ConnectionError("the store went away on purpose"), 503, "dependency outage on"),
    ],
)
async def test_a_request_path_cannot_forge_or_colour_a_log_line(
    make_settings: MakeSettings,
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
    error: Exception,
    status: int,
    said: str,
) -> None:
    async def failing(self: AuthenticateRequest, *args: object, **kwargs: object) -> Principal:
        raise error

    def failing_nowait(self: AuthenticateRequest, *args: object, **kwargs: object) -> Principal:
        raise error

    # the guard's calls (its hot path first), on a route with a path parameter
    monkeypatch.setattr(AuthenticateRequest, "execute_nowait", failing_nowait)
    monkeypatch.setattr(AuthenticateRequest, "execute", failing)
    app = create_app(settings=make_settings(log_format=log_format))
    with server_log() as stream:
        async with AsyncTestClient(app) as client:
            response = await client.delete(INJECTED_PATH, headers={"Authorization": "Bearer not-checked"})
    assert response.status_code == status, response.text
    text = stream.getvalue()
    for control in ("\x1b", "\u202e", "\r"):
        assert control not in text
    lines = text.splitlines()
    told = [line for line in lines if said in line]
    assert len(told) == 1, text
    assert [line for line in lines if "fake log line" in line] == told  # no line of the client's own
    if log_format == "json":
        for line in lines:
            json.loads(line)  # each record is one JSON line
        event = json.loads(told[0])["event"]
    else:
        event = told[0]
    assert f"DELETE {ESCAPED_PATH}" in event
