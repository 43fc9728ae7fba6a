"""Forgot, reset and change password, with the reset mail read back from the outbox folder."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, register

Client = AsyncTestClient[Litestar]
RESET_URL = "https://music.example/reset-password"
LINK = re.compile(re.escape(RESET_URL) + r"\?token=([A-Za-z0-9_\-]+)(?=\s|$)")
NEW_PASSWORD = "Brand-New-Melody-42"


@pytest.fixture
async def mail_client(make_settings: MakeSettings) -> Any:
    async with AsyncTestClient(create_app(settings=make_settings(password_reset_url=RESET_URL))) as client:
        yield client


def outbox_of(client: Client) -> Path:
    return Path(client.app.state.musicez.settings.mail_outbox)


def messages(folder: Path) -> list[email.message.EmailMessage]:
    if not folder.exists():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    return found


async def wait_for_mail(
    folder: Path, to: str, timeout: float = 5.0, subject: str = "reset"
) -> email.message.EmailMessage:
    """The first mail to `to` whose subject mentions `subject` (security notices go there too)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for message in messages(folder):
            if message["To"] == to and subject.lower() in str(message["Subject"]).lower():
                return message
        assert asyncio.get_running_loop().time() < deadline, f"no mail to {to} in {folder}"
        await asyncio.sleep(0.05)


def reset_token_from(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    links = LINK.findall(text)
    assert len(set(links)) == 1, text
    return str(links[0])


async def forgot(client: Client, address: str) -> Any:
    return await client.post("/auth/password/forgot", json={"email": address})


async def reset_token_for(client: Client, address: str) -> str:
    assert (await forgot(client, address)).status_code == 202
    return reset_token_from(await wait_for_mail(outbox_of(client), address))


async def login_status(client: Client, address: str, password: str) -> int:
    return (await client.post("/auth/login", json={"email": address, "password": password})).status_code


# -- forgot ---------------------------------------------------------------------------------------


async def test_forgot_answers_alike_and_mails_only_known_accounts(mail_client: Client) -> None:
    known = unique_email("known")
    await register(mail_client, known)
    unknown_response = await forgot(mail_client, unique_email("unknown"))
    known_response = await forgot(mail_client, f"  {known.upper()} ")
    for response in (unknown_response, known_response):
        assert response.status_code == 202, response.text
    assert unknown_response.json() == known_response.json()
    assert unknown_response.headers["content-type"] == known_response.headers["content-type"]
    message = await wait_for_mail(outbox_of(mail_client), known)
    await asyncio.sleep(0.3)  # give a (wrong) mail to the unknown address time to land as well
    assert [m["To"] for m in messages(outbox_of(mail_client))] == [known]
    assert message["Subject"]
    token = reset_token_from(message)
    assert len(token) >= 43
    assert known not in token


async def test_forgot_with_a_malformed_body(mail_client: Client) -> None:
    assert_problem(await forgot(mail_client, "not-an-email"), 400, "validation_error")
    assert_problem(
        await mail_client.post("/auth/password/forgot", json={"mail": "a@example.com"}), 400, "validation_error"
    )


async def test_forgot_is_rate_limited(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(forgot_rate_limit="2/minute"))) as client:
        for _ in range(2):
            response = await forgot(client, unique_email())
            assert response.status_code == 202
            assert response.headers["ratelimit-limit"].isdigit()
        response = await forgot(client, unique_email())
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1


# -- reset ----------------------------------------------------------------------------------------


async def test_reset_sets_the_password_and_ends_every_session(mail_client: Client) -> None:
    address = unique_email()
    first = await register(mail_client, address)
    second = (await mail_client.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD})).json()
    token = await reset_token_for(mail_client, address)
    response = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await login_status(mail_client, address, STRONG_PASSWORD) == 401
    assert await login_status(mail_client, address, NEW_PASSWORD) == 200
    for grant in (first, second):
        assert_problem(await mail_client.get("/auth/me", headers=bearer(grant)), 401, "token_revoked")
        refreshed = await mail_client.post("/auth/refresh", json={"refresh_token": grant["refresh_token"]})
        assert_problem(refreshed, 401, "invalid_refresh_token")
    again = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": "Third-Melody-Line-7"})
    assert_problem(again, 400, "invalid_reset_token")
    assert await login_status(mail_client, address, NEW_PASSWORD) == 200


async def test_weak_new_password_leaves_the_token_usable(mail_client: Client) -> None:
    address = unique_email()
    await register(mail_client, address)
    token = await reset_token_for(mail_client, address)
    weak = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": "short"})
    problem = assert_problem(weak, 422, "weak_password")
    assert len(problem["errors"]) >= 2
    assert {e["field"] for e in problem["errors"]} == {"new_password"}
    too_long = await mail_client.post(
        "/auth/password/reset", json={"token": token, "new_password": "Correct-Horse-9" + "é" * 29}
    )
    assert_problem(too_long, 422, "weak_password")
    assert await login_status(mail_client, address, STRONG_PASSWORD) == 200
    response = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    assert await login_status(mail_client, address, NEW_PASSWORD) == 200


async def test_bad_reset_tokens(mail_client: Client) -> None:
    address = unique_email()
    await register(mail_client, address)
    token = await reset_token_for(mail_client, address)
    bad = {
        "tampered": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "truncated": token[:-1],
        "extended": token + "A",
        "unknown": "A" * len(token),
        "empty": "",
        "unicode": token[:-1] + "é",
        "huge": token * 300,
        "padded": token + "=",
    }
    for kind, presented in bad.items():
        response = await mail_client.post(
            "/auth/password/reset", json={"token": presented, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400, kind
        assert_problem(response, 400, "invalid_reset_token")
    assert await login_status(mail_client, address, STRONG_PASSWORD) == 200
    # the real token is unharmed
    ok = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204


# -- change ---------------------------------------------------------------------------------------


async def test_change_password(client: Client) -> None:
    address = unique_email()
    this = await register(client, address)
    other = (await client.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD})).json()
    response = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(this),
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/auth/me", headers=bearer(this))).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": this["refresh_token"]})).status_code == 200
    assert_problem(await client.get("/auth/me", headers=bearer(other)), 401, "token_revoked")
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401, "invalid_refresh_token"
    )
    assert await login_status(client, address, STRONG_PASSWORD) == 401
    assert await login_status(client, address, NEW_PASSWORD) == 200


async def test_change_password_with_a_wrong_current_password(client: Client) -> None:
    address = unique_email()
    this = await register(client, address)
    other = (await client.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD})).json()
    for wrong in ("Wrong-Password-123", "", STRONG_PASSWORD + "x" * 80):
        response = await client.post(
            "/auth/password/change",
            json={"current_password": wrong, "new_password": NEW_PASSWORD},
            headers=bearer(this),
        )
        assert_problem(response, 400, "invalid_current_password")
    assert (await client.get("/auth/me", headers=bearer(other))).status_code == 200
    assert await login_status(client, address, STRONG_PASSWORD) == 200


async def test_change_to_a_weak_password(client: Client) -> None:
    address = unique_email()
    this = await register(client, address)
    other = (await client.post("/auth/login", json={"email": address, "password": STRONG_PASSWORD})).json()
    response = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": "password"},
        headers=bearer(this),
    )
    problem = assert_problem(response, 422, "weak_password")
    assert len(problem["errors"]) == 3, problem  # short, common, one class
    assert {e["field"] for e in problem["errors"]} == {"new_password"}
    assert (await client.get("/auth/me", headers=bearer(other))).status_code == 200
    assert await login_status(client, address, STRONG_PASSWORD) == 200


async def test_reset_token_expires(make_settings: MakeSettings) -> None:
    settings = make_settings(password_reset_url=RESET_URL, password_reset_ttl=1)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        address = unique_email()
        await register(client, address)
        token = await reset_token_for(client, address)
        await asyncio.sleep(1.5)
        response = await client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
        assert_problem(response, 400, "invalid_reset_token")
        assert await login_status(client, address, STRONG_PASSWORD) == 200
