"""POST /auth/login: new sessions, device names, one answer for every failure, throttling."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, register, run_concurrently

Client = AsyncTestClient[Litestar]
FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0"


def login_body(email: str, password: str = STRONG_PASSWORD, **extra: Any) -> dict[str, Any]:
    return {"email": email, "password": password, **extra}


async def test_login_answers_200_with_a_token_response_and_a_new_session(client: Client) -> None:
    email = unique_email()
    registered = await register(client, email)
    seen = {registered["session_id"]}
    for _ in range(3):
        response = await client.post("/auth/login", json=login_body(email))
        assert response.status_code == 200, response.text
        assert "no-store" in response.headers["cache-control"]
        body = response.json()
        assert set(body) == set(registered)
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert 604_799 <= body["refresh_expires_in"] <= 604_800
        assert body["user"] == registered["user"]
        assert body["session_id"] not in seen
        seen.add(body["session_id"])
    sessions = (await client.get("/auth/sessions", headers=bearer(body))).json()
    assert {s["id"] for s in sessions} == seen


async def test_login_email_is_trimmed_and_case_insensitive(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    response = await client.post("/auth/login", json=login_body(f"  {email.upper()} "))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email


async def test_device_name_from_body_or_user_agent(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    named = await client.post("/auth/login", json=login_body(email, device_name="Kitchen speaker"))
    guessed = await client.post("/auth/login", json=login_body(email), headers={"User-Agent": FIREFOX})
    both = await client.post(
        "/auth/login", json=login_body(email, device_name="My Mac"), headers={"User-Agent": FIREFOX}
    )
    sessions = {s["id"]: s for s in (await client.get("/auth/sessions", headers=bearer(named.json()))).json()}
    assert sessions[named.json()["session_id"]]["device_name"] == "Kitchen speaker"
    assert "Firefox" in sessions[guessed.json()["session_id"]]["device_name"]
    assert sessions[both.json()["session_id"]]["device_name"] == "My Mac"


async def test_unknown_email_and_wrong_password_answer_alike(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    wrong = await client.post("/auth/login", json=login_body(email, "Wrong-Password-123"))
    unknown = await client.post("/auth/login", json=login_body(unique_email()))
    malformed = await client.post("/auth/login", json=login_body("not-an-email"))
    too_long = await client.post("/auth/login", json=login_body(email, STRONG_PASSWORD + "x" * 80))
    bodies = []
    for response in (wrong, unknown, malformed, too_long):
        body = assert_problem(response, 401, "invalid_credentials")
        assert response.headers["www-authenticate"]
        bodies.append(body)
    assert bodies[0] == bodies[1]


async def test_login_responses_carry_rate_limit_headers(client: Client) -> None:
    email = unique_email()
    await register(client, email)
    for response in (
        await client.post("/auth/login", json=login_body(email)),
        await client.post("/auth/login", json=login_body(email, "Wrong-Password-123")),
    ):
        for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
            assert response.headers[name].isdigit(), response.headers


async def test_repeated_failures_are_throttled_even_for_the_right_password(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute"))
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        for _ in range(3):
            assert_problem(
                await client.post("/auth/login", json=login_body(email, "Wrong-Password-123")),
                401,
                "invalid_credentials",
            )
        for password in ("Wrong-Password-123", STRONG_PASSWORD):
            response = await client.post("/auth/login", json=login_body(email, password))
            assert_problem(response, 429, "rate_limited")
            assert 1 <= int(response.headers["retry-after"]) <= 60
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == "0"
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        # Throttling is per (email, client): another account from this client still logs in.
        other = unique_email()
        await register(client, other)
        assert (await client.post("/auth/login", json=login_body(other))).status_code == 200


async def test_the_throttle_window_ends(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/second"))
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        for _ in range(10):
            response = await client.post("/auth/login", json=login_body(email, "Wrong-Password-123"))
            if response.status_code == 429:
                break
            assert_problem(response, 401, "invalid_credentials")
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        await asyncio.sleep(2.1)
        response = await client.post("/auth/login", json=login_body(email))
        assert response.status_code == 200, response.text


async def test_successful_login_clears_the_failures(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute"))
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        for _ in range(2):
            await client.post("/auth/login", json=login_body(email, "Wrong-Password-123"))
        assert (await client.post("/auth/login", json=login_body(email))).status_code == 200
        for _ in range(2):
            assert_problem(
                await client.post("/auth/login", json=login_body(email, "Wrong-Password-123")),
                401,
                "invalid_credentials",
            )
        assert (await client.post("/auth/login", json=login_body(email))).status_code == 200


def behind_proxy(app: Litestar, peer: str) -> None:
    """Make every request arrive from `peer`, as if through a reverse proxy there."""
    inner = app.asgi_handler

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (peer, 40000)}
        await inner(scope, receive, send)

    app.asgi_handler = handler


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute", trusted_proxies="10.0.0.0/8"))
    behind_proxy(app, "10.1.2.3")
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        for _ in range(3):
            response = await client.post("/auth/login", json=login_body(email, "Wrong-Password-123"), headers=attacker)
            assert_problem(response, 401, "invalid_credentials")
        assert_problem(await client.post("/auth/login", json=login_body(email), headers=attacker), 429, "rate_limited")
        # The real user behind the same proxy is another client and is not locked out.
        response = await client.post("/auth/login", json=login_body(email), headers={"X-Forwarded-For": "203.0.113.10"})
        assert response.status_code == 200, response.text
        # A spoofed first hop does not help: the proxy appends the address it saw.
        spoofed = {"X-Forwarded-For": "203.0.113.10, 203.0.113.9"}
        assert_problem(await client.post("/auth/login", json=login_body(email), headers=spoofed), 429, "rate_limited")


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [("", None), ("10.0.0.0/8", "192.0.2.50")],
    ids=["no-trusted-proxies", "untrusted-peer"],
)
async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    make_settings: MakeSettings, trusted: str, peer: str | None
) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute", trusted_proxies=trusted))
    if peer is not None:
        behind_proxy(app, peer)
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        for i in range(3):
            response = await client.post(
                "/auth/login",
                json=login_body(email, "Wrong-Password-123"),
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            assert_problem(response, 401, "invalid_credentials")
        response = await client.post("/auth/login", json=login_body(email), headers={"X-Forwarded-For": "203.0.113.99"})
        assert_problem(response, 429, "rate_limited")


async def test_a_thirty_attempt_guessing_run_is_stopped_without_a_lasting_lock_out(make_settings: MakeSettings) -> None:
    """The default allows 20 failures a minute per (email, client); scaled to 10 a second here
    (the per-account budget, which does lock out other addresses, is out of the way)."""
    app = create_app(
        settings=make_settings(
            login_rate_limit="10/second", trusted_proxies="10.0.0.0/8", account_failure_limit="1000/minute"
        )
    )
    behind_proxy(app, "10.9.9.9")
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        attacker = {"X-Forwarded-For": "198.51.100.7"}
        statuses = []
        for attempt in range(30):
            response = await client.post(
                "/auth/login", json=login_body(email, f"Guess-{attempt:04d}-xyz!"), headers=attacker
            )
            statuses.append(response.status_code)
        assert statuses.count(401) <= 10, statuses
        assert statuses.count(429) >= 20, statuses
        assert set(statuses) <= {401, 429}, statuses
        # Meanwhile the owner, from another address, is not locked out ...
        owner = {"X-Forwarded-For": "198.51.100.8"}
        assert (await client.post("/auth/login", json=login_body(email), headers=owner)).status_code == 200
        # ... and once the window has passed the guesser's address may try again.
        await asyncio.sleep(1.5)
        response = await client.post("/auth/login", json=login_body(email), headers=attacker)
        assert response.status_code == 200, response.text


async def test_parallel_guesses_are_counted_before_the_password_is_checked(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute"))
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        guesses = [("POST", "/auth/login", {"json": login_body(email, f"Guess-{i:03d}-abc!")}) for i in range(15)]
        statuses = [r.status_code for r in await run_concurrently(client, guesses)]
        assert statuses.count(401) <= 3, statuses
        assert statuses.count(429) >= 12, statuses


async def test_guesses_of_the_current_password_on_change_are_throttled(make_settings: MakeSettings) -> None:
    app = create_app(settings=make_settings(login_rate_limit="3/minute"))
    async with AsyncTestClient(app) as client:
        tokens = await register(client)
        body = {"current_password": "Not-The-Password-1", "new_password": "Another-Strong-Pass-42"}
        for _ in range(3):
            response = await client.post("/auth/password/change", json=body, headers=bearer(tokens))
            assert_problem(response, 400, "invalid_current_password")
        response = await client.post("/auth/password/change", json=body, headers=bearer(tokens))
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1


async def test_rate_limit_remaining_after_a_success_counts_the_reset(make_settings: MakeSettings) -> None:
    """A successful login clears its (email, client) failure count: the headers say so, not
    the count as it stood before the password was checked."""
    app = create_app(settings=make_settings(login_rate_limit="5/minute", login_client_rate_limit="1000/minute"))
    async with AsyncTestClient(app) as client:
        email = unique_email()
        await register(client, email)
        wrong = await client.post("/auth/login", json=login_body(email, "Wrong-Password-123"))
        assert wrong.headers["ratelimit-limit"] == "5"
        assert wrong.headers["ratelimit-remaining"] == "4"
        right = await client.post("/auth/login", json=login_body(email))
        assert right.status_code == 200, right.text
        assert right.headers["ratelimit-limit"] == "1000"  # the failure count is back to zero
        assert int(right.headers["ratelimit-remaining"]) >= 990
