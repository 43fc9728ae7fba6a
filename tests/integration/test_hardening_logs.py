"""No log format prints local variables: a forced 500 with a password in the body and a bearer
token in the header leaves neither in any log line, in the JSON and in the console format."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from dishka import Provider, Scope, provide
from litestar.testing import AsyncTestClient

from musicez.adapters.security.passwords import BcryptHasher
from musicez.application.accounts import Credentials
from musicez.application.ports import PasswordHasher
from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.http.schemas import ChangePasswordBody, LoginBody, RefreshBody, RegisterBody, ResetPasswordBody
from tests.integration.test_ops_logs import capture_root
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
