"""Ids and instants on the wire: the response structs hold `UUID` and `datetime`, and the text is
what API.md shows (`2026-12-01T10:00:00Z`: UTC, whole seconds; lower-case hyphenated UUIDs),
while the OpenAPI document says `format: uuid` / `format: date-time` for them."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import STRONG_PASSWORD
from tests.support.api import bearer, on_app_loop, register

Client = AsyncTestClient[Litestar]
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# No fraction of a second (the clock has microseconds, so a leak would show), `Z` and never `+00:00`.
INSTANT_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

# Every response field that is an id or an instant, by the schema it belongs to.
TYPED_FIELDS = {
    "UserOut": {"id": "uuid", "created_at": "date-time"},
    "TokenResponse": {"session_id": "uuid"},
    "SessionOut": {"id": "uuid", "created_at": "date-time", "last_used_at": "date-time", "expires_at": "date-time"},
    "MeSession": {"id": "uuid", "access_token_expires_at": "date-time", "refresh_expires_at": "date-time"},
    "ApiKeyOut": {"id": "uuid"},
    "ActivityItemOut": {"id": "uuid", "at": "date-time", "session_id": "uuid"},
    "AdminUserOut": {"id": "uuid", "created_at": "date-time", "last_login_at": "date-time"},
    "AdminUserDetails": {"id": "uuid", "created_at": "date-time", "last_login_at": "date-time"},
    "AdminSessionOut": {
        "id": "uuid",
        "created_at": "date-time",
        "last_used_at": "date-time",
        "expires_at": "date-time",
    },
    "IntrospectionOut": {"sub": "uuid", "sid": "uuid"},
}


def _ids(*values: Any) -> None:
    for value in values:
        assert isinstance(value, str), value
        assert UUID_TEXT.fullmatch(value), value


def _instants(*values: Any) -> None:
    for value in values:
        assert isinstance(value, str), value
        assert INSTANT_TEXT.fullmatch(value), value


async def _admin_key(client: Client) -> dict[str, str]:
    async def make(container: Any) -> Any:
        from musicez.application.api_keys import CreateApiKey

        return await (await container.get(CreateApiKey)).execute("formats-console", scope="admin")

    return {"X-API-Key": (await on_app_loop(client, make)).secret}


async def test_ids_and_instants_keep_their_text(client: Client) -> None:
    tokens = await register(client)
    _ids(tokens["session_id"], tokens["user"]["id"])
    _instants(tokens["user"]["created_at"])
    headers = bearer(tokens)

    me = (await client.get("/auth/me", headers=headers)).json()
    _ids(me["user"]["id"], me["session"]["id"])
    _instants(me["user"]["created_at"], me["session"]["access_token_expires_at"], me["session"]["refresh_expires_at"])
    assert me["user"]["created_at"] == tokens["user"]["created_at"]

    (session,) = (await client.get("/auth/sessions", headers=headers)).json()
    _ids(session["id"])
    _instants(session["created_at"], session["last_used_at"], session["expires_at"])

    items = (await client.get("/auth/activity", headers=headers)).json()["items"]
    assert items
    for item in items:
        _ids(item["id"])
        _instants(item["at"])
        if item["session_id"] is not None:
            _ids(item["session_id"])

    admin = await _admin_key(client)
    key_me = (await client.get("/auth/me", headers=admin)).json()
    _ids(key_me["api_key"]["id"])
    login = await client.post("/auth/login", json={"email": tokens["user"]["email"], "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text  # so that last_login_at is set
    details = (await client.get(f"/admin/users/{tokens['user']['id']}", headers=admin)).json()
    assert len(details["sessions"]) == 2
    _ids(details["id"], *(s["id"] for s in details["sessions"]))
    _instants(details["created_at"], details["last_login_at"])
    _instants(*(s[k] for s in details["sessions"] for k in ("created_at", "last_used_at", "expires_at")))
    listed = (await client.get("/admin/users", headers=admin)).json()["items"]
    _ids(*(u["id"] for u in listed))
    _instants(*(u["created_at"] for u in listed), *(u["last_login_at"] for u in listed if u["last_login_at"]))

    introspected = (await client.post("/auth/introspect", data={"token": tokens["access_token"]}, headers=admin)).json()
    assert (introspected["sub"], introspected["sid"]) == (tokens["user"]["id"], tokens["session_id"])


def _formats(schema: dict[str, Any]) -> set[str]:
    if "format" in schema:
        return {schema["format"]}
    return {found for option in schema.get("oneOf", []) for found in _formats(option)}


async def test_the_document_says_uuid_and_date_time(client: Client) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for name, fields in TYPED_FIELDS.items():
        for field, expected in fields.items():
            assert _formats(schemas[name]["properties"][field]) == {expected}, (name, field)
