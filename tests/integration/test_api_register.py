"""POST /auth/register: the token response, email normalisation, the password policy, races."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import assert_problem, bearer, register, run_concurrently

Client = AsyncTestClient[Litestar]
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
TOKEN_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_expires_in",
    "session_id",
    "user",
    "device_token",  # v1.1: register and login
}


def assert_token_response(response: httpx.Response, status: int, email: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    body: dict[str, Any] = response.json()
    assert set(body) == TOKEN_FIELDS, body
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str)
    assert len(body["refresh_token"]) >= 43
    assert body["expires_in"] == 900
    assert isinstance(body["refresh_expires_in"], int)
    assert 604_799 <= body["refresh_expires_in"] <= 604_800
    uuid.UUID(body["session_id"])
    assert set(body["user"]) == {"id", "email", "created_at"}
    uuid.UUID(body["user"]["id"])
    assert body["user"]["email"] == email
    assert RFC3339_Z.match(body["user"]["created_at"]), body["user"]["created_at"]
    created = datetime.strptime(body["user"]["created_at"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    return body


async def test_register_answers_201_with_the_token_response(client: Client) -> None:
    email = unique_email()
    response = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    body = assert_token_response(response, 201, email)
    me = await client.get("/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["user"] == body["user"]
    assert me.json()["session"]["id"] == body["session_id"]


async def test_email_is_trimmed_and_compared_case_insensitively(client: Client) -> None:
    email = unique_email("Ada.Lovelace")
    shouted = f"  \t{email.upper()}  \n"
    response = await client.post("/auth/register", json={"email": shouted, "password": STRONG_PASSWORD})
    body = assert_token_response(response, 201, email.upper())  # v1.1: the address as given, trimmed
    login = await client.post("/auth/login", json={"email": email.lower(), "password": STRONG_PASSWORD})
    assert login.status_code == 200
    assert login.json()["user"]["id"] == body["user"]["id"]


async def test_duplicate_email_in_another_case_is_409(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    for variant in (email, email.upper(), f"  {email.title()} "):
        response = await client.post("/auth/register", json={"email": variant, "password": STRONG_PASSWORD})
        assert_problem(response, 409, "email_taken")


async def test_invalid_email_is_400_validation_error(client: Client) -> None:
    bad = [
        "not-an-email",
        "a@",
        "@example.com",
        "   ",
        "",
        "a b@example.com",
        "a@@example.com",
        "x" * 250 + "@example.com",
    ]
    for email in bad:
        response = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
        assert response.status_code == 400, email
        problem = assert_problem(response, 400, "validation_error")
        assert [e["field"] for e in problem["errors"]] == ["email"], problem


async def test_weak_password_lists_every_failed_rule(client: Client) -> None:
    # local part "pass" (4 characters) is in the password; "password" is short, common, one class.
    email = f"pass@{uuid.uuid4().hex[:10]}.example.com"
    response = await client.post("/auth/register", json={"email": email, "password": "password"})
    problem = assert_problem(response, 422, "weak_password")
    errors = problem["errors"]
    assert {e["field"] for e in errors} == {"password"}
    assert len(errors) == 4, errors
    messages = " | ".join(e["message"] for e in errors).lower()
    assert "12" in messages
    assert "common" in messages
    assert "local part" in messages or "email" in messages
    assert "3" in messages  # classes


@pytest.mark.parametrize(
    ("password", "count"),
    [
        ("Aa1-short", 1),  # too short only
        ("alllowercaseletters", 1),  # 19 chars, one class
        ("alllowercaseletters1", 0),  # 20 chars: any classes will do
        ("abcdefghij12", 1),  # two classes, 12 chars
    ],
)
async def test_each_rule_on_its_own(client: Client, password: str, count: int) -> None:
    response = await client.post("/auth/register", json={"email": unique_email(), "password": password})
    if count == 0:
        assert response.status_code == 201, response.text
        return
    problem = assert_problem(response, 422, "weak_password")
    assert len(problem["errors"]) == count, problem
    assert all(e["field"] == "password" for e in problem["errors"])


async def test_password_containing_the_local_part_case_insensitively(client: Client) -> None:
    local = f"mozart{uuid.uuid4().hex[:6]}"
    response = await client.post(
        "/auth/register", json={"email": f"{local}@example.com", "password": f"X-{local.upper()}-9z"}
    )
    problem = assert_problem(response, 422, "weak_password")
    assert len(problem["errors"]) == 1


async def test_short_local_part_is_not_checked(client: Client) -> None:
    response = await client.post(
        "/auth/register", json={"email": f"abc@{uuid.uuid4().hex[:8]}.example.com", "password": "xx-ABC-abc-123"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "password",
    [
        "Correct-Horse-9" + "é" * 29,  # 15 + 58 = 73 bytes, 44 characters
        "Correct-Horse-9" + "🎵" * 14 + "x" * 2,  # 15 + 56 + 2 = 73 bytes
        "Correct-Horse-9" + "€" * 19 + "x",  # 15 + 57 + 1 = 73 bytes
        "Correct-Horse-9" + "x" * 58,  # 73 ASCII bytes
    ],
)
async def test_73_byte_passwords_are_rejected_never_truncated(client: Client, password: str) -> None:
    assert len(password.encode("utf-8")) == 73
    email = unique_email()
    response = await client.post("/auth/register", json={"email": email, "password": password})
    problem = assert_problem(response, 422, "weak_password")
    assert len(problem["errors"]) == 1, problem
    assert problem["errors"][0]["field"] == "password"
    assert "72" in problem["errors"][0]["message"]
    # Nothing was created: neither the full password nor its truncation logs in.
    truncated = password.encode("utf-8")[:72].decode("utf-8", "ignore")
    for attempt in (password, truncated):
        login = await client.post("/auth/login", json={"email": email, "password": attempt})
        assert_problem(login, 401, "invalid_credentials")


async def test_72_byte_password_is_accepted_and_must_match_exactly(client: Client) -> None:
    password = "Correct-Horse-9" + "é" * 28 + "x"
    assert len(password.encode("utf-8")) == 72
    email = unique_email()
    response = await client.post("/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    assert (await client.post("/auth/login", json={"email": email, "password": password})).status_code == 200
    login = await client.post("/auth/login", json={"email": email, "password": password + "y"})
    assert_problem(login, 401, "invalid_credentials")
    login = await client.post("/auth/login", json={"email": email, "password": password[:-1]})
    assert_problem(login, 401, "invalid_credentials")


async def test_register_takes_the_device_name_from_the_body_or_user_agent(client: Client) -> None:
    named = await client.post(
        "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD, "device_name": "Ada's phone"}
    )
    assert named.status_code == 201
    sessions = (await client.get("/auth/sessions", headers=bearer(named.json()))).json()
    assert [s["device_name"] for s in sessions] == ["Ada's phone"]
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
    agent = await client.post(
        "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD}, headers={"User-Agent": firefox}
    )
    assert agent.status_code == 201
    sessions = (await client.get("/auth/sessions", headers=bearer(agent.json()))).json()
    assert "Firefox" in sessions[0]["device_name"]


async def test_fifty_concurrent_registrations_of_one_email(client: Client) -> None:
    email = unique_email("race")
    calls = [
        ("POST", "/auth/register", {"json": {"email": email if i % 2 else email.upper(), "password": STRONG_PASSWORD}})
        for i in range(50)
    ]
    responses = await run_concurrently(client, calls)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 49}, statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "email_taken")
    winner = next(r for r in responses if r.status_code == 201).json()
    login = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.json()["user"]["id"] == winner["user"]["id"]


async def test_common_passwords_are_refused_whatever_their_case(client: Client) -> None:
    # 20 characters, so only the common-password rule can fail
    for password in ("q1w2e3r4t5y6u7i8o9p0", "Q1W2E3R4T5Y6U7I8O9P0", "1q2w3e4r5t6y7u8i9o0p"):
        response = await client.post("/auth/register", json={"email": unique_email(), "password": password})
        problem = assert_problem(response, 422, "weak_password")
        assert len(problem["errors"]) == 1, problem
        assert "common" in problem["errors"][0]["message"]
