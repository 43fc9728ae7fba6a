"""Email look-alikes over HTTP (API.md, Hardening v1.1): NFKC + case folding decide which
account an address is; the address given at registration (trimmed, NFC) is shown and mailed."""

from __future__ import annotations

import email
import email.policy
import unicodedata
import uuid

from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_passwords import RESET_URL, Client, mail_client, outbox_of, wait_for_mail  # noqa: F401
from tests.support.accounts import STRONG_PASSWORD
from tests.support.api import MakeSettings, assert_problem, register, run_concurrently

FULL_WIDTH = str.maketrans({c: chr(ord(c) - 0x20 + 0xFF00) for c in "abcdefghijklmnopqrstuvwxyz0123456789"})


def local() -> str:
    return f"alice{uuid.uuid4().hex[:8]}"


async def test_a_full_width_address_is_the_same_account(client: Client) -> None:
    name = local()
    address = f"{name}@example.com"
    created = await register(client, address)
    look_alike = f"{name.translate(FULL_WIDTH)}@example.com"
    response = await client.post("/auth/register", json={"email": look_alike, "password": STRONG_PASSWORD})
    assert_problem(response, 409, "email_taken")
    login = await client.post("/auth/login", json={"email": look_alike, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["user"] == created["user"]
    assert login.json()["user"]["email"] == address


async def test_strasse_and_strasse_are_one_account(client: Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    address = f"stra\u00dfe-{suffix}@example.com"
    created = await register(client, address)
    assert created["user"]["email"] == address
    response = await client.post(
        "/auth/register", json={"email": f"STRASSE-{suffix.upper()}@example.com", "password": STRONG_PASSWORD}
    )
    assert_problem(response, 409, "email_taken")
    login = await client.post(
        "/auth/login", json={"email": f"Strasse-{suffix}@Example.com", "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200, login.text


async def test_the_address_as_given_is_stored_trimmed_and_nfc(client: Client) -> None:
    given = f"  Cafe\u0301-{uuid.uuid4().hex[:8]}@Example.com\t"
    created = await register(client, given)
    assert created["user"]["email"] == unicodedata.normalize("NFC", given.strip())
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {created['access_token']}"})
    assert me.json()["user"]["email"] == unicodedata.normalize("NFC", given.strip())


async def test_the_reset_mail_goes_to_the_address_as_given(mail_client: Client) -> None:  # noqa: F811
    name = local()
    address = f"{name.capitalize()}@example.com"
    await register(mail_client, address)
    response = await mail_client.post(
        "/auth/password/forgot", json={"email": f"{name.translate(FULL_WIDTH)}@EXAMPLE.com"}
    )
    assert response.status_code == 202
    message = await wait_for_mail(outbox_of(mail_client), address)
    assert message["To"] == address


async def test_a_non_ascii_address_is_mailed_as_utf8_not_as_an_encoded_word(mail_client: Client) -> None:  # noqa: F811
    """RFC 6532: the address goes into `To:` as UTF-8; an RFC 2047 encoded-word inside an address
    (`=?utf-8?b?…?=@Example.com`) is not allowed, and reaches no one."""
    address = f"{'stra'.translate(FULL_WIDTH)}\u00dfe-{uuid.uuid4().hex[:8]}@Example.com"
    await register(mail_client, address)
    response = await mail_client.post("/auth/password/forgot", json={"email": address})
    assert response.status_code == 202
    await wait_for_mail(outbox_of(mail_client), address)
    [raw] = [path.read_bytes() for path in outbox_of(mail_client).glob("*.eml")]  # this test's own outbox
    [header] = [line for line in raw.splitlines() if line.startswith(b"To:")]
    assert header == b"To: " + address.encode("utf-8")
    assert b"=?" not in header
    assert email.message_from_bytes(raw, policy=email.policy.default)["To"] == address


async def test_concurrent_look_alike_registrations_one_201_the_rest_409(client: Client) -> None:
    name = local()
    spellings = [
        f"{name}@example.com",
        f"{name.translate(FULL_WIDTH)}@example.com",
        f"{name.upper()}@EXAMPLE.COM",
        f" {name.translate(FULL_WIDTH).upper()}@Example.com ",
        f"{name}@example.com",
        f"{name.capitalize()}@example.com",
    ]
    calls = [("POST", "/auth/register", {"json": {"email": e, "password": STRONG_PASSWORD}}) for e in spellings]
    responses = await run_concurrently(client, calls)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (len(spellings) - 1), [r.text for r in responses]


async def test_login_failures_count_per_account_whatever_the_spelling(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(login_rate_limit="3/minute"))) as client:
        name = local()
        await register(client, f"{name}@example.com")
        spellings = [f"{name.upper()}@example.com", f"{name.translate(FULL_WIDTH)}@example.com", f"{name}@EXAMPLE.com"]
        for spelling in spellings:
            wrong = await client.post("/auth/login", json={"email": spelling, "password": "Wrong-Password-123"})
            assert_problem(wrong, 401, "invalid_credentials")
        blocked = await client.post(
            "/auth/login", json={"email": f"{name.capitalize()}@example.com", "password": STRONG_PASSWORD}
        )
        assert_problem(blocked, 429, "rate_limited")
