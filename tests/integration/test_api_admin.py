"""Account administration over HTTP (API.md v1.1): scoped API keys, the admin routes, and what
a disabled account can no longer do."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from musicez.entrypoints.http.app import create_app
from tests.integration.test_api_passwords import wait_for_mail
from tests.integration.test_ops_logs import capture_root
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, on_app_loop, register

AnyClient = AsyncTestClient[Litestar]


async def scoped_key(client: AnyClient, scope: str) -> dict[str, str]:
    async def make(container: Any) -> Any:
        from musicez.application.api_keys import CreateApiKey

        return await (await container.get(CreateApiKey)).execute(f"{scope}-console", scope=scope)

    created = await on_app_loop(client, make)
    return {"X-API-Key": created.secret}


def _mails(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


async def _login(client: AnyClient, email: str, password: str = STRONG_PASSWORD) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_admin_routes_need_an_admin_key(client: AnyClient) -> None:
    user = await register(client)
    target = f"/admin/users/{user['user']['id']}"
    api = await scoped_key(client, "api")
    admin = await scoped_key(client, "admin")

    assert_problem(await client.get("/admin/users"), 401, "missing_credentials")
    for headers in (api, bearer(user)):
        assert_problem(await client.get("/admin/users", headers=headers), 403, "insufficient_scope")
        assert_problem(await client.get(target, headers=headers), 403, "insufficient_scope")
        assert_problem(await client.post(f"{target}/disable", headers=headers), 403, "insufficient_scope")
    # An admin key is also good for every ordinary guarded route.
    me = await client.get("/auth/me", headers=admin)
    assert me.status_code == 200, me.text
    assert (await client.get(target, headers=admin)).status_code == 200
    # A user token together with an admin key is still the user: no admin.
    both = {**bearer(user), **admin}
    assert_problem(await client.get("/admin/users", headers=both), 403, "insufficient_scope")


async def test_list_filters_and_pages_with_a_cursor(client: AnyClient) -> None:
    admin = await scoped_key(client, "admin")
    tag = uuid.uuid4().hex[:8]
    made = [await register(client, f"page-{tag}-{i}@example.com") for i in range(5)]
    ids = [m["user"]["id"] for m in made]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"email_contains": f"PAGE-{tag}", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/admin/users", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # creation order, no duplicates, nothing missed
    item = (await client.get("/admin/users", params={"email_contains": f"page-{tag}-0"}, headers=admin)).json()
    assert item["items"] == [
        {
            "id": ids[0],
            "email": f"page-{tag}-0@example.com",
            "created_at": made[0]["user"]["created_at"],
            "disabled": False,
            "disabled_reason": None,
            "last_login_at": None,
        }
    ]
    await client.post(f"/admin/users/{ids[1]}/disable", json={"reason": "chargeback"}, headers=admin)
    disabled = await client.get("/admin/users", params={"email_contains": tag, "disabled": "true"}, headers=admin)
    assert [(i["id"], i["disabled"], i["disabled_reason"]) for i in disabled.json()["items"]] == [
        (ids[1], True, "chargeback")
    ]
    enabled = await client.get("/admin/users", params={"email_contains": tag, "disabled": "false"}, headers=admin)
    assert [i["id"] for i in enabled.json()["items"]] == [ids[0], *ids[2:]]
    # % and _ are literal characters, not wildcards; a NUL matches nothing and is no 500
    # (tied to this test's tag: the run's database holds other tests' odd addresses too)
    for odd in (f"page%{tag}", f"page_{tag}", f"page-{tag}\x00", f"\x00{tag}"):
        found = await client.get("/admin/users", params={"email_contains": odd}, headers=admin)
        assert found.status_code == 200, found.text
        assert found.json()["items"] == []

    for bad in (
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"disabled": "maybe"},
        {"cursor": "nope"},
        {"cursor": "x" * 23},
    ):
        assert_problem(await client.get("/admin/users", params=bad, headers=admin), 400, "validation_error")


async def test_show_user_with_sessions_and_unknown_ids(client: AnyClient) -> None:
    admin = await scoped_key(client, "admin")
    email = unique_email("show")
    first = await register(client, email)
    login = await _login(client, email)
    assert login.status_code == 200
    shown = await client.get(f"/admin/users/{first['user']['id']}", headers=admin)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["email"] == email
    assert body["disabled"] is False
    assert body["last_login_at"] is not None
    assert {s["id"] for s in body["sessions"]} == {first["session_id"], login.json()["session_id"]}
    assert set(body["sessions"][0]) == {"id", "device_name", "created_at", "last_used_at", "expires_at"}

    for path in (f"/admin/users/{uuid.uuid4()}", "/admin/users/not-a-uuid", f"/admin/users/{email}"):
        assert_problem(await client.get(path, headers=admin), 404, "user_not_found")
        assert_problem(await client.post(f"{path}/disable", headers=admin), 404, "user_not_found")
        assert_problem(await client.post(f"{path}/enable", headers=admin), 404, "user_not_found")
        assert_problem(await client.post(f"{path}/logout", headers=admin), 404, "user_not_found")


async def test_disable_blocks_everything_and_enable_lifts_only_the_block(client: AnyClient, outbox: Path) -> None:
    admin = await scoped_key(client, "admin")
    email = unique_email("blocked")
    tokens = await register(client, email)
    target = f"/admin/users/{tokens['user']['id']}"
    assert (await client.post("/auth/password/forgot", json={"email": email})).status_code == 202
    link_token = _reset_token(await wait_for_mail(outbox, email))

    disabled = await client.post(f"{target}/disable", json={"reason": "abuse report #12"}, headers=admin)
    assert disabled.status_code == 204, disabled.text

    revoked = assert_problem(await client.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked")
    assert revoked.get("reason") in (None, "account_disabled")
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "invalid_refresh_token",
    )
    assert_problem(await _login(client, email), 403, "account_disabled")
    assert_problem(await _login(client, email, "Wrong-Horse-Battery-9"), 401, "invalid_credentials")
    before = len(_mails(outbox))
    assert (await client.post("/auth/password/forgot", json={"email": email})).status_code == 202
    reset = {"token": link_token, "new_password": "Another-Strong-Pass-42"}
    assert_problem(await client.post("/auth/password/reset", json=reset), 400, "invalid_reset_token")
    shown = (await client.get(target, headers=admin)).json()
    assert (shown["disabled"], shown["disabled_reason"], shown["sessions"]) == (True, "abuse report #12", [])

    assert (await client.post(f"{target}/enable", headers=admin)).status_code == 204
    assert len(_mails(outbox)) == before  # nothing was sent while disabled
    assert_problem(await client.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked")
    assert_problem(await client.post("/auth/password/reset", json=reset), 400, "invalid_reset_token")
    again = await _login(client, email)
    assert again.status_code == 200, again.text
    shown = (await client.get(target, headers=admin)).json()
    assert (shown["disabled"], shown["disabled_reason"]) == (False, None)


async def test_disable_without_a_body_and_force_logout(client: AnyClient) -> None:
    admin = await scoped_key(client, "admin")
    email = unique_email("logout")
    tokens = await register(client, email)
    other = (await _login(client, email)).json()
    target = f"/admin/users/{tokens['user']['id']}"

    assert (await client.post(f"{target}/logout", headers=admin)).status_code == 204
    for session in (tokens, other):
        body = assert_problem(await client.get("/auth/me", headers=bearer(session)), 401, "token_revoked")
        assert body.get("reason") in (None, "admin_logout")
    assert (await _login(client, email)).status_code == 200  # a forced logout is no block

    assert (await client.post(f"{target}/disable", headers=admin)).status_code == 204  # no body at all
    assert_problem(await _login(client, email), 403, "account_disabled")
    too_long = await client.post(f"{target}/disable", json={"reason": "x" * 501}, headers=admin)
    assert_problem(too_long, 400, "validation_error")
    assert_problem(await client.post(f"{target}/disable", json={"reason": 5}, headers=admin), 400, "validation_error")
    nul = await client.post(f"{target}/disable", json={"reason": "a\x00b\u200b c"}, headers=admin)
    assert nul.status_code == 204, nul.text
    shown = await client.get(target, headers=admin)
    assert shown.json()["disabled_reason"] == "ab c"


async def test_admin_routes_are_documented_with_the_api_key_scheme(client: AnyClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path in ("/admin/users", "/admin/users/{user_id}", "/admin/users/{user_id}/disable"):
        operations = document["paths"][path]
        for operation in operations.values():
            assert operation["security"] == [{"ApiKeyAuth": []}], (path, operation)
            assert "403" in operation["responses"], (path, operation["responses"].keys())


def _reset_token(message: Any) -> str:
    body = message.get_body(preferencelist=("plain",))
    found = re.findall(r"\?token=([A-Za-z0-9_\-]+)", body.get_content())
    assert len(set(found)) == 1, found
    return str(found[0])


async def test_admin_actions_are_security_events_naming_the_key(make_settings: MakeSettings) -> None:
    async with AsyncTestClient(create_app(settings=make_settings(log_format="json"))) as client:
        user = await register(client)
        target = f"/admin/users/{user['user']['id']}"

        async def make(container: Any) -> Any:
            from musicez.application.api_keys import CreateApiKey

            return await (await container.get(CreateApiKey)).execute("console", scope="admin")

        created = await on_app_loop(client, make)
        admin = {"X-API-Key": created.secret}
        stream = io.StringIO()
        handler = capture_root(stream)
        logging.getLogger().addHandler(handler)
        try:
            assert (await client.post(f"{target}/disable", json={"reason": "abuse"}, headers=admin)).status_code == 204
            assert (await client.post(f"{target}/enable", headers=admin)).status_code == 204
            assert (await client.post(f"{target}/logout", headers=admin)).status_code == 204
        finally:
            logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = {line["event"]: line for line in lines if line.get("logger") == "musicez.security"}
    for name in ("account_disabled", "account_enabled", "admin_logout"):
        assert events[name]["user_id"] == user["user"]["id"], events
        assert events[name]["by"] == str(created.key.id)
        assert events[name]["key_prefix"] == created.key.prefix
    assert events["account_disabled"]["reason"] == "abuse"
    assert created.secret not in text
    assert user["access_token"] not in text
