"""Passwords v1.1 over HTTP: invisible or near-constant passwords are weak on register, change
and reset (every failed rule listed), and a password is the same in any Unicode normal form:
NFC before every rule, before hashing and before verifying."""

from __future__ import annotations

import unicodedata

import pytest

from musicez.adapters.security.passwords import BcryptHasher
from tests.integration.test_api_passwords import Client, login_status, mail_client, reset_token_for  # noqa: F401
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import assert_problem, bearer, register

WEAK = [" " * 20, "\x00" * 20, "\u200b" * 20, "a" * 20, "\u3000" * 12 + "\t" * 12, "abab" * 6]
# "Mélodie-Noël-Été-2026" typed on a keyboard that sends combining accents (NFD)
COMPOSED = unicodedata.normalize("NFC", "Mélodie-Noël-Été-26")
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


@pytest.mark.parametrize("password", WEAK)
async def test_register_refuses_weak_long_passwords(client: Client, password: str) -> None:
    response = await client.post("/auth/register", json={"email": unique_email(), "password": password})
    body = assert_problem(response, 422, "weak_password")
    messages = [e["message"] for e in body["errors"]]
    assert {e["field"] for e in body["errors"]} == {"password"}
    assert any("different characters" in m or "visible" in m for m in messages), messages


async def test_every_failed_rule_is_listed(client: Client) -> None:
    response = await client.post("/auth/register", json={"email": unique_email(), "password": " " * 8})
    messages = [e["message"] for e in assert_problem(response, 422, "weak_password")["errors"]]
    assert len(messages) == 4, messages  # too short, too few classes, invisible, too few distinct
    assert any("visible" in m for m in messages)
    assert any("different characters" in m for m in messages)


async def test_change_refuses_a_weak_long_password(client: Client) -> None:
    tokens = await register(client)
    response = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": "\u200b" * 30},
        headers=bearer(tokens),
    )
    body = assert_problem(response, 422, "weak_password")
    assert {e["field"] for e in body["errors"]} == {"new_password"}


async def test_reset_refuses_a_weak_long_password(mail_client: Client) -> None:  # noqa: F811
    address = unique_email()
    await register(mail_client, address)
    token = await reset_token_for(mail_client, address)
    response = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": "z" * 40})
    assert_problem(response, 422, "weak_password")


async def test_register_in_one_normal_form_log_in_with_the_other(client: Client) -> None:
    assert COMPOSED != DECOMPOSED
    first = unique_email()
    await register(client, first, DECOMPOSED)
    assert await login_status(client, first, COMPOSED) == 200
    assert await login_status(client, first, DECOMPOSED) == 200
    second = unique_email()
    await register(client, second, COMPOSED)
    assert await login_status(client, second, DECOMPOSED) == 200


async def test_change_and_reset_verify_and_hash_the_nfc_form(mail_client: Client) -> None:  # noqa: F811
    address = unique_email()
    tokens = await register(mail_client, address, COMPOSED)
    response = await mail_client.post(
        "/auth/password/change",
        json={"current_password": DECOMPOSED, "new_password": unicodedata.normalize("NFD", "Zoë-Brontë-Ångström-1")},
        headers=bearer(tokens),
    )
    assert response.status_code == 204, response.text
    assert await login_status(mail_client, address, "Zoë-Brontë-Ångström-1") == 200
    token = await reset_token_for(mail_client, address)
    response = await mail_client.post("/auth/password/reset", json={"token": token, "new_password": DECOMPOSED})
    assert response.status_code == 204, response.text
    assert await login_status(mail_client, address, COMPOSED) == 200


async def test_the_72_byte_limit_counts_the_nfc_form(client: Client) -> None:
    # 36 "é" decomposed are 108 bytes, composed exactly 72: accepted (with a few other characters
    # it would exceed 72 in either form).
    password = unicodedata.normalize("NFD", "é" * 30 + "Ab1-xy")
    assert len(password.encode()) > 72
    assert len(unicodedata.normalize("NFC", password).encode()) == 66
    await register(client, unique_email(), password)


async def test_the_hasher_normalises() -> None:
    password_hasher = BcryptHasher(rounds=4, threads=1)
    try:
        stored = await password_hasher.hash(DECOMPOSED)
        assert await password_hasher.verify(COMPOSED, stored)
        assert await password_hasher.verify(DECOMPOSED, stored)
        assert not await password_hasher.verify(COMPOSED + "x", stored)
    finally:
        password_hasher.close()
