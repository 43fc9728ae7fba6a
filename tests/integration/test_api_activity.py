"""GET /auth/activity, the security mails and POST /auth/not-me (API.md v1.1): on Postgres with
the Redis session store, and on the embedded default (SQLite and the in-process store)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.application.activity import PurgeActivity
from musicez.application.ports import ActivityLog, EventSink
from musicez.domain.activity import ActivityItem
from musicez.domain.events import AccountDisabled, AccountEnabled, AdminLogout, LoginSucceeded
from musicez.domain.ids import UserId
from musicez.entrypoints.http.app import create_app
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import (
    MakeSettings,
    assert_problem,
    bearer,
    create_api_key,
    on_app_loop,
    register,
    run_concurrently,
)

Client = AsyncTestClient[Litestar]
SECURITY_URL = "https://music.example/not-me"
RESET_URL = "https://music.example/reset-password"
NOT_ME_LINK = re.compile(re.escape(SECURITY_URL) + r"\?token=([A-Za-z0-9_\-]+)(?=\s|$)")
RESET_LINK = re.compile(re.escape(RESET_URL) + r"\?token=([A-Za-z0-9_\-]+)(?=\s|$)")
NEW_PASSWORD = "Brand-New-Melody-42"
ITEM_FIELDS = {"id", "type", "at", "session_id", "device_name", "new_device", "detail"}


def _settings(make_settings: MakeSettings, store: str, **extra: Any) -> Any:
    values: dict[str, Any] = {"security_url": SECURITY_URL, "password_reset_url": RESET_URL, **extra}
    if store == "embedded":  # the embedded default: in-process sessions, an SQLite file
        values["redis_url"] = None
        values["database_url"] = None
    return make_settings(**values)


@pytest.fixture(params=["redis", "embedded"])
async def client(request: pytest.FixtureRequest, make_settings: MakeSettings) -> AsyncIterator[Client]:
    app = create_app(settings=_settings(make_settings, request.param, refresh_reuse_grace=0))
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def login(client: Client, address: str, device: str | None = None, password: str = STRONG_PASSWORD) -> Any:
    body: dict[str, Any] = {"email": address, "password": password}
    if device:
        body["device_name"] = device
    return await client.post("/auth/login", json=body)


async def logged_in(client: Client, address: str, device: str | None = None) -> dict[str, Any]:
    response = await login(client, address, device)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def feed(client: Client, grant: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    """Every item of the caller's feed, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = await client.get("/auth/activity", headers=bearer(grant), params=query)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        for item in body["items"]:
            assert set(item) == ITEM_FIELDS, item
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def rate_headers(response: Any) -> dict[str, int]:
    return {name: int(response.headers[f"ratelimit-{name}"]) for name in ("limit", "remaining", "reset")}


def types(items: list[dict[str, Any]]) -> list[str]:
    return [i["type"] for i in items]


def outbox_of(client: Client) -> Path:
    return Path(client.app.state.musicez.settings.mail_outbox)


def mails_to(client: Client, to: str) -> list[email.message.EmailMessage]:
    folder = outbox_of(client)
    if not folder.exists():
        return []
    found = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob("*.eml"))
    ]
    return [m for m in found if m["To"] == to]


async def wait_for_mails(client: Client, to: str, subject: str, count: int = 1) -> list[email.message.EmailMessage]:
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        found = [m for m in mails_to(client, to) if m["Subject"] == subject]
        if len(found) >= count:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"no {subject!r} mail to {to}"
        await asyncio.sleep(0.05)


def body_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


NEW_SIGN_IN = "New sign-in to your MusicEZ account"
PASSWORD_CHANGED = "Your MusicEZ password was changed"


async def test_logins_are_in_the_feed_at_once_newest_first_with_new_device(client: Client) -> None:
    address = unique_email()
    first = await register(client, address)
    phone = await logged_in(client, address, "Pixel 9")
    again = await logged_in(client, address, "Pixel 9")
    items = await feed(client, again)
    assert types(items) == ["login", "login", "login"]
    assert [i["session_id"] for i in items] == [again["session_id"], phone["session_id"], first["session_id"]]
    assert [i["new_device"] for i in items] == [False, True, True]
    assert items[0]["device_name"] == "Pixel 9"
    assert items[0]["detail"] == {}
    assert [datetime.fromisoformat(i["at"]) for i in items] == sorted(
        (datetime.fromisoformat(i["at"]) for i in items), reverse=True
    )
    assert len({i["id"] for i in items}) == 3


async def test_a_wrong_current_password_on_a_change_is_a_failed_login_of_that_session(client: Client) -> None:
    """API.md: `login_failed` is "the account's password was wrong; one item per attempt"."""
    grant = await register(client)
    phone = await logged_in(client, grant["user"]["email"], "Phone")
    wrong = {"current_password": "Wrong-Password-123", "new_password": "Another-Strong-Pass-77"}
    for _ in range(2):
        response = await client.post("/auth/password/change", json=wrong, headers=bearer(phone))
        assert response.status_code == 400, response.text

    items = await feed(client, grant)
    assert types(items)[:3] == ["login_failed", "login_failed", "login"]
    for failed in items[:2]:
        assert failed["session_id"] == phone["session_id"]
        assert failed["device_name"] == "Phone"
        assert failed["new_device"] is None


async def test_failed_logins_and_endings_are_in_their_users_feed_only(client: Client) -> None:
    address, stranger = unique_email(), unique_email()
    first = await register(client, address)
    outsider = await register(client, stranger)
    for _ in range(2):
        assert (await login(client, address, "Laptop", password="Wrong-Password-123")).status_code == 401
    assert (await login(client, unique_email(), password="Wrong-Password-123")).status_code == 401
    laptop = await logged_in(client, address, "Laptop")
    tablet = await logged_in(client, address, "Tablet")
    phone = await logged_in(client, address, "Phone")
    watch = await logged_in(client, address, "Watch")
    pad = await logged_in(client, address, "Pad")
    assert (await client.post("/auth/logout", headers=bearer(watch))).status_code == 204
    response = await client.delete(f"/auth/sessions/{tablet['session_id']}", headers=bearer(laptop))
    assert response.status_code == 204
    response = await client.delete(f"/auth/sessions/{pad['session_id']}", headers=bearer(pad))
    assert response.status_code == 204
    assert (await client.post("/auth/logout-others", headers=bearer(laptop))).status_code == 204
    assert (await client.post("/auth/logout-all", headers=bearer(laptop))).status_code == 204
    reader = await logged_in(client, address, "Laptop")

    items = await feed(client, reader, limit=3)
    assert types(items) == [
        "login",
        "session_ended",  # logout-all: the laptop
        "session_ended",  # logout-others: the phone and the first session
        "session_ended",
        "session_ended",  # the pad's DELETE of itself: not POST /auth/logout, so an ending (API.md)
        "session_ended",  # DELETE of the tablet from the laptop
        "logout",  # the watch
        "login",
        "login",
        "login",
        "login",
        "login",
        "login_failed",
        "login_failed",
        "login",  # registration
    ]
    assert items[1] == {**items[1], "session_id": laptop["session_id"], "detail": {"reason": "logout_all"}}
    assert items[1]["device_name"] == "Laptop"
    others = {i["session_id"]: i for i in items[2:4]}
    assert set(others) == {phone["session_id"], first["session_id"]}
    assert {i["detail"]["reason"] for i in others.values()} == {"ended_from_other_device"}
    assert others[phone["session_id"]]["device_name"] == "Phone"
    assert items[4]["session_id"] == pad["session_id"]
    assert (items[4]["detail"], items[4]["device_name"]) == ({"reason": "logout"}, "Pad")
    assert items[5]["session_id"] == tablet["session_id"]
    assert items[5]["detail"] == {"reason": "ended_from_other_device"}
    assert items[6]["session_id"] == watch["session_id"]
    assert items[6]["device_name"] == "Watch"
    assert items[12]["device_name"] == "Laptop"
    assert all(i["new_device"] is None for i in items if i["type"] != "login")
    assert types(await feed(client, outsider)) == ["login"]


async def test_refresh_reuse_is_in_the_feed(client: Client) -> None:
    grant = await register(client)
    rotated = await client.post("/auth/refresh", json={"refresh_token": grant["refresh_token"]})
    assert rotated.status_code == 200
    reused = await client.post("/auth/refresh", json={"refresh_token": grant["refresh_token"]})
    assert_problem(reused, 401, "refresh_token_reused")
    reader = await logged_in(client, grant["user"]["email"])
    items = await feed(client, reader)
    assert types(items)[:3] == ["login", "session_ended", "refresh_reuse_detected"]
    assert items[1]["detail"] == {"reason": "reuse_detected"}
    assert items[1]["session_id"] == items[2]["session_id"] == grant["session_id"]


async def test_password_change_is_in_the_feed_and_mailed(client: Client) -> None:
    address = unique_email()
    grant = await register(client, address)
    other = await logged_in(client, address, "Old phone")
    response = await client.post(
        "/auth/password/change",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(grant),
    )
    assert response.status_code == 204
    items = await feed(client, grant)
    assert types(items)[:2] == ["session_ended", "password_changed"] or types(items)[:2] == [
        "password_changed",
        "session_ended",
    ]
    ended = next(i for i in items if i["type"] == "session_ended")
    assert ended["session_id"] == other["session_id"]
    assert ended["detail"] == {"reason": "password_changed"}
    assert next(i for i in items if i["type"] == "password_changed")["session_id"] == grant["session_id"]
    (mail,) = await wait_for_mails(client, address, PASSWORD_CHANGED)
    assert "changed" in body_of(mail)
    assert STRONG_PASSWORD not in body_of(mail)
    assert NEW_PASSWORD not in body_of(mail)


async def test_password_reset_is_in_the_feed_and_mailed(client: Client) -> None:
    address = unique_email()
    grant = await register(client, address)
    assert (await client.post("/auth/password/forgot", json={"email": address})).status_code == 202
    deadline = asyncio.get_running_loop().time() + 5
    while not (resets := [m for m in mails_to(client, address) if RESET_LINK.search(body_of(m))]):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    token = RESET_LINK.findall(body_of(resets[0]))[0]
    failed = await client.post("/auth/password/reset", json={"token": token[:-2], "new_password": NEW_PASSWORD})
    assert_problem(failed, 400, "invalid_reset_token")
    response = await client.post("/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 204
    # A limited route (its failures count per client address): the success states that budget,
    # as the failure left it (a success costs nothing).
    assert rate_headers(response) == {**rate_headers(failed), "reset": rate_headers(response)["reset"]}
    assert 1 <= rate_headers(response)["reset"] <= rate_headers(failed)["reset"]
    reader_response = await client.post("/auth/login", json={"email": address, "password": NEW_PASSWORD})
    items = await feed(client, reader_response.json())
    assert types(items)[0] == "login"
    assert set(types(items)[1:3]) == {"password_reset", "session_ended"}
    ended = next(i for i in items if i["type"] == "session_ended")
    assert ended == {**ended, "session_id": grant["session_id"], "detail": {"reason": "password_reset"}}
    await wait_for_mails(client, address, PASSWORD_CHANGED)


async def test_new_device_login_mails_a_not_me_link_that_works_once(client: Client) -> None:
    address = unique_email()
    await register(client, address, password=STRONG_PASSWORD)
    await asyncio.sleep(0.2)
    assert mails_to(client, address) == []  # registration sends no "new sign-in" mail
    intruder = await logged_in(client, address, "Unknown laptop")
    (mail,) = await wait_for_mails(client, address, NEW_SIGN_IN)
    text = body_of(mail)
    assert "Unknown laptop" in text
    (token,) = NOT_ME_LINK.findall(text)
    assert intruder["refresh_token"] not in text

    await logged_in(client, address, "Unknown laptop")  # a known device: no second mail
    await asyncio.sleep(0.2)
    assert len([m for m in mails_to(client, address) if m["Subject"] == NEW_SIGN_IN]) == 1

    response = await client.post("/auth/not-me", json={"token": token})
    assert response.status_code == 204, response.text
    # No failure from this address yet: the whole budget, a whole window.
    budget = client.app.state.musicez.settings.not_me_failure_limit
    assert rate_headers(response) == {"limit": budget.amount, "remaining": budget.amount, "reset": budget.seconds}
    assert_problem(await client.get("/auth/me", headers=bearer(intruder)), 401, "token_revoked")
    refused = await client.post("/auth/refresh", json={"refresh_token": intruder["refresh_token"]})
    assert_problem(refused, 401, "invalid_refresh_token")
    assert_problem(await client.post("/auth/not-me", json={"token": token}), 400, "invalid_security_token")
    reader = await logged_in(client, address, "Unknown laptop")
    ended = next(i for i in await feed(client, reader) if i["type"] == "session_ended")
    assert ended["session_id"] == intruder["session_id"]
    assert ended["detail"] == {"reason": "not_me"}
    assert ended["device_name"] == "Unknown laptop"


async def test_bad_not_me_tokens(client: Client) -> None:
    for token in ["", "x", "A" * 43, "é" * 43, "A" * 128, "A" * 129, "A" * 4000]:
        assert_problem(await client.post("/auth/not-me", json={"token": token}), 400, "invalid_security_token")
    assert_problem(await client.post("/auth/not-me", json={"token": 5}), 400, "validation_error")
    assert_problem(await client.post("/auth/not-me", json={}), 400, "validation_error")


async def test_bad_pages_and_wrong_credentials(client: Client) -> None:
    grant = await register(client)
    for params in [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "nope"}]:
        response = await client.get("/auth/activity", headers=bearer(grant), params=params)
        assert_problem(response, 400, "validation_error")
    assert_problem(await client.get("/auth/activity"), 401, "missing_credentials")
    key = await create_api_key(client)
    assert_problem(await client.get("/auth/activity", headers={"X-API-Key": key.secret}), 403, "user_token_required")
    one = (await client.get("/auth/activity", headers=bearer(grant), params={"limit": "1"})).json()
    assert one["next_cursor"] is None
    assert len(one["items"]) == 1


async def test_security_mails_are_throttled_per_address(make_settings: MakeSettings) -> None:
    settings = _settings(make_settings, "redis", security_mail_rate_limit="1/hour")
    async with AsyncTestClient(create_app(settings=settings)) as client:
        address = unique_email()
        await register(client, address)
        await logged_in(client, address, "First")
        await wait_for_mails(client, address, NEW_SIGN_IN)
        second = await login(client, address, "Second")
        assert second.status_code == 200
        await asyncio.sleep(0.3)
        assert len(mails_to(client, address)) == 1
        assert types(await feed(client, second.json()))[:2] == ["login", "login"]


async def test_admin_events_show_by_admin_never_the_key(client: Client) -> None:
    grant = await register(client)
    user_id = grant["user"]["id"]

    async def emit(container: Any) -> None:
        events = await container.get(EventSink)
        events.record(AccountDisabled(user_id=user_id, by="key:0193-secret-id", reason="chargeback", session_ids=[]))
        events.record(AccountEnabled(user_id=user_id, by="cli"))
        events.record(AdminLogout(user_id=user_id, by="key:x", session_ids=[grant["session_id"]]))
        await asyncio.sleep(0.3)  # off the request path: written in the background

    await on_app_loop(client, emit)
    reader = await logged_in(client, grant["user"]["email"])
    items = await feed(client, reader)
    assert types(items)[1:4] == ["session_ended", "account_enabled", "account_disabled"]
    assert items[1]["detail"] == {"reason": "admin_logout", "by": "admin"}
    assert items[2]["detail"] == items[3]["detail"] == {"by": "admin"}
    assert "secret" not in str(items)
    assert "chargeback" not in str(items)


async def test_an_admin_disable_ends_each_session_in_the_feed(client: Client) -> None:
    from tests.integration.test_api_admin import scoped_key

    admin = await scoped_key(client, "admin")
    address = unique_email()
    first = await register(client, address)
    laptop = await logged_in(client, address, "Laptop")
    target = f"/admin/users/{first['user']['id']}"
    assert (await client.post(f"{target}/disable", json={"reason": "chargeback"}, headers=admin)).status_code == 204
    assert (await client.post(f"{target}/enable", headers=admin)).status_code == 204

    reader = await logged_in(client, address, "Laptop")
    items = await feed(client, reader)
    assert types(items)[:2] == ["login", "account_enabled"]
    # the disable: an item of its own and one per session it ended (written at one instant)
    assert sorted(types(items[2:5])) == ["account_disabled", "session_ended", "session_ended"]
    assert types(items[5:]) == ["login", "login"]  # the laptop, registration: nothing else
    own = next(i for i in items[2:5] if i["type"] == "account_disabled")
    assert (own["session_id"], own["detail"]) == (None, {"by": "admin"})
    disabled = {"reason": "account_disabled", "by": "admin"}
    assert {i["session_id"]: (i["device_name"], i["detail"]) for i in items[2:5] if i["type"] == "session_ended"} == {
        first["session_id"]: (items[-1]["device_name"], disabled),  # as its login item names it
        laptop["session_id"]: ("Laptop", disabled),
    }
    assert "chargeback" not in str(items)


async def test_an_admin_logout_ends_each_live_session_in_the_feed_and_none_when_none_lived(client: Client) -> None:
    from tests.integration.test_api_admin import scoped_key

    admin = await scoped_key(client, "admin")
    address = unique_email()
    first = await register(client, address)
    devices = ["Phone", "Tablet", "Watch", "TV"]
    grants = [first, *[await logged_in(client, address, d) for d in devices]]
    target = f"/admin/users/{first['user']['id']}"
    assert (await client.post(f"{target}/logout", headers=admin)).status_code == 204
    assert (await client.post(f"{target}/logout", headers=admin)).status_code == 204  # nothing live: no item

    reader = await logged_in(client, address, "Laptop")
    items = await feed(client, reader)
    assert types(items) == ["login", *["session_ended"] * 5, *["login"] * 5]
    names = {i["session_id"]: i["device_name"] for i in items if i["type"] == "login"}
    admin_logout = {"reason": "admin_logout", "by": "admin"}
    assert {i["session_id"]: (i["device_name"], i["detail"]) for i in items[1:6]} == {
        g["session_id"]: (names[g["session_id"]], admin_logout) for g in grants
    }
    assert [names[g["session_id"]] for g in grants[1:]] == devices


async def test_retention_purges_old_items(make_settings: MakeSettings) -> None:
    settings = _settings(make_settings, "redis", activity_retention=3600)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        grant = await register(client)
        user_id = grant["user"]["id"]
        old = datetime.now(UTC) - timedelta(hours=2)

        async def age(container: Any) -> int:
            log = await container.get(ActivityLog)
            from uuid import UUID, uuid4

            await log.add([ActivityItem(uuid4(), UserId(UUID(user_id)), "login_failed", old)])
            purge = await container.get(PurgeActivity)
            return int(await purge.execute())

        assert await on_app_loop(client, age) >= 1
        assert types(await feed(client, grant)) == ["login"]


async def test_the_app_purges_expired_items_at_start_up(make_settings: MakeSettings) -> None:
    settings = _settings(make_settings, "redis", activity_retention=3600)
    async with AsyncTestClient(create_app(settings=settings)) as client:
        grant = await register(client)
        user_id = grant["user"]["id"]

        async def add_old(container: Any) -> None:
            from uuid import UUID, uuid4

            log = await container.get(ActivityLog)
            old = datetime.now(UTC) - timedelta(hours=2)
            await log.add([ActivityItem(uuid4(), UserId(UUID(user_id)), "login_failed", old)])

        await on_app_loop(client, add_old)

    async def count(container: Any) -> int:
        log = await container.get(ActivityLog)
        from uuid import UUID

        return len(await log.page(UUID(user_id), 10, None, datetime.now(UTC) - timedelta(days=1)))

    async with AsyncTestClient(create_app(settings=settings)) as client:
        deadline = asyncio.get_running_loop().time() + 5
        while (found := await on_app_loop(client, count)) != 1:
            assert asyncio.get_running_loop().time() < deadline, found
            await asyncio.sleep(0.05)


async def test_the_openapi_document_declares_the_feed_and_not_me(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    feed_get = document["paths"]["/auth/activity"]["get"]
    params = {p["name"]: p for p in feed_get["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1
    assert params["limit"]["schema"]["maximum"] == 100
    assert params["limit"]["in"] == params["cursor"]["in"] == "query"
    assert {"400", "401", "403"} <= set(feed_get["responses"])
    assert set(feed_get["responses"]["400"]["content"]) == {"application/problem+json"}
    not_me = document["paths"]["/auth/not-me"]["post"]
    not_me_body = not_me["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in not_me_body:
        not_me_body = document["components"]["schemas"][not_me_body["$ref"].rsplit("/", 1)[1]]
    assert not_me_body["properties"]["token"]["maxLength"] == 128  # documented (over it: invalid_security_token)
    assert not_me.get("security") == document["paths"]["/auth/login"]["post"].get("security")  # public
    assert set(not_me["responses"]["400"]["content"]) == {"application/problem+json"}
    assert "429" in not_me["responses"]


async def test_odd_device_names_are_kept_printable(client: Client) -> None:
    grant = await register(client)

    async def emit(container: Any) -> None:
        events = await container.get(EventSink)
        events.record(
            LoginSucceeded(
                user_id=grant["user"]["id"],
                session_id=grant["session_id"],
                device_name="Phone\x00\x07 of Ada " + "x" * 200,
            )
        )
        await asyncio.sleep(0.3)  # off the request path: written in the background

    await on_app_loop(client, emit)
    (item, *_) = await feed(client, grant)
    assert item["type"] == "login"
    assert item["device_name"].startswith("Phone of Ada x")
    assert len(item["device_name"]) == 100


async def test_a_failing_mailer_never_fails_the_login_nor_logs_the_link(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    settings = _settings(make_settings, "redis", mail_outbox=str(blocked))
    app = create_app(settings=settings)  # configures logging: one handler on the root logger
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    logging.getLogger().addHandler(capture)
    try:
        async with AsyncTestClient(app) as client:
            address = unique_email()
            await register(client, address)
            login_response = await login(client, address, "Somewhere new")
            assert login_response.status_code == 200
            deadline = asyncio.get_running_loop().time() + 5
            while "security mail (new_sign_in) failed" not in stream.getvalue():
                assert asyncio.get_running_loop().time() < deadline, stream.getvalue()
                await asyncio.sleep(0.05)
            assert types(await feed(client, login_response.json()))[0] == "login"
    finally:
        logging.getLogger().removeHandler(capture)
    assert SECURITY_URL not in stream.getvalue()
    assert address not in stream.getvalue()


async def test_concurrent_uses_of_one_not_me_link_end_it_once(client: Client) -> None:
    address = unique_email()
    await register(client, address)
    await logged_in(client, address, "Racing laptop")
    (mail,) = await wait_for_mails(client, address, NEW_SIGN_IN)
    (token,) = NOT_ME_LINK.findall(body_of(mail))
    calls = [("POST", "/auth/not-me", {"json": {"token": token}}) for _ in range(6)]
    statuses = sorted(r.status_code for r in await run_concurrently(client, calls))
    assert statuses == [204, 400, 400, 400, 400, 400]
