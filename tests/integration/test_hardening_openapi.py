"""The OpenAPI document states the real constraints (API.md, Hardening v1.1): `format: email`, a
`maxLength` on every string of every request body, passwords 12 to 72 characters; every error
response is documented as the problem document it is; and the routes agree with it: a request
the document calls valid is never 400 validation_error, route-specific refusals remain."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from musicez.domain.email import DOCUMENTED_PATTERN
from tests.integration.test_api_passwords import Client
from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, register

PASSWORD_FIELDS = {"password", "new_password", "current_password"}
EMAIL_FIELDS = {"email"}
# the health routes answer 503 with their status document, not a problem document (API.md)
STATUS_DOCUMENTS = {("/health/ready", "503"), ("/health", "503")}


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "oneOf" in schema and "$ref" not in schema:  # an optional body: the object, not null
        schema = next(option for option in schema["oneOf"] if option.get("type") != "null")
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def request_bodies(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                # JSON everywhere but introspection's form (RFC 7662)
                for content in operation["requestBody"]["content"].values():
                    found[f"{method.upper()} {path}"] = resolve(document, content["schema"])
    return found


def strings_of(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(s.get("type") == "string" for s in schema.get("oneOf", []))


async def test_every_request_string_has_a_max_length(document: dict[str, Any]) -> None:
    bodies = request_bodies(document)
    assert {"POST /auth/register", "POST /auth/login", "POST /auth/password/change"} <= set(bodies)
    for operation, schema in bodies.items():
        for name, field in schema["properties"].items():
            for option in field.get("oneOf", [field]):
                if option.get("type") == "string" and "enum" not in option:  # an enum is bounded by its values
                    # on the string itself, a nullable one's string branch too (a reader that looks
                    # at each `"type": "string"` must see its bound), and the whole field agrees
                    bound = option.get("maxLength")
                    assert isinstance(bound, int), (operation, name, field)
                    assert field.get("maxLength", bound) == bound, (operation, name, field)


async def test_every_string_parameter_has_a_max_length(client: Client, document: dict[str, Any]) -> None:
    """Path and query parameters are fields too: ids in paths included (a longer one is still
    answered 404 `session_not_found` / `user_not_found`, as a malformed id is)."""
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                for option in schema.get("oneOf", [schema]):
                    if option.get("type") == "string" and "enum" not in option:
                        bound = option.get("maxLength")  # on the string itself, as above
                        assert isinstance(bound, int), (method, path, parameter)
                        seen.add((parameter["in"], parameter["name"]))
    assert {("path", "session_id"), ("path", "user_id"), ("query", "cursor")} <= seen
    # documented, not enforced as a 400: a longer id is still the route's 404
    tokens = await register(client)
    response = await client.delete(f"/auth/sessions/{'x' * 100}", headers=bearer(tokens))
    assert_problem(response, 404, "session_not_found")


async def test_emails_and_passwords_state_their_constraints(document: dict[str, Any]) -> None:
    seen = set()
    for operation, schema in request_bodies(document).items():
        for name, field in schema["properties"].items():
            if name in EMAIL_FIELDS:
                assert field["format"] == "email", (operation, field)
                assert field["maxLength"] == 254
                assert field["minLength"] >= 1  # "" is invalid even for a validator that ignores formats
                # what mail cannot reach, refused by the route, is refused by the document too
                assert field["pattern"] == DOCUMENTED_PATTERN, (operation, field)
                seen.add(name)
            if name in PASSWORD_FIELDS:
                assert (field["minLength"], field["maxLength"]) == (12, 72), (operation, field)
                seen.add(name)
    assert seen == EMAIL_FIELDS | PASSWORD_FIELDS


async def test_every_error_response_is_documented_as_a_problem_document(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or (path, status) in STATUS_DOCUMENTS:
                    continue
                content = response.get("content") or {}
                assert list(content) == ["application/problem+json"], (method, path, status, content)
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


async def test_delete_session_documents_the_problem_it_sends(client: Client, document: dict[str, Any]) -> None:
    responses = document["paths"]["/auth/sessions/{session_id}"]["delete"]["responses"]
    assert "application/json" not in (responses["400"].get("content") or {})
    tokens = await register(client)
    response = await client.delete("/auth/sessions/not-a-session", headers=bearer(tokens))
    assert_problem(response, 404, "session_not_found")


# -- the largest body the document calls valid fits the body limit ------------------------------

# Characters of every kind a string may hold, for the widest each can be on the wire: a control
# character is 6 bytes in JSON (`\u0000`), an emoji 12 in a form (`%F0%9F%98%80`).
WIDE_CHARACTERS = ["\x00", "\x01", "\x1f", " ", '"', "\\", "~", "a", "\x7f", "é", "€", "\uffff", "😀", "\U0010ffff"]
ENCODED: dict[str, Callable[[str], int]] = {
    "application/json": lambda text: len(json.dumps(text, ensure_ascii=False).encode()),
    "application/x-www-form-urlencoded": lambda text: len(urllib.parse.quote_plus(text.encode(), safe="")),
}


SPARE = 1024  # bytes the largest valid body leaves of the limit, at least


def widest_value(encoded: Callable[[str], int], field: dict[str, Any], separators: int) -> int:
    """The most bytes a document-valid value of the field can take: the widest of its options."""
    widths = []
    for option in field.get("oneOf", [field]):
        kind = option.get("type")
        if kind == "null":
            widths.append(4)
        elif "enum" in option:
            widths.append(max(encoded(str(value)) for value in option["enum"]))
        else:
            assert kind == "string", f"{kind} has no bound here: add one (and to this test)"
            bound = option.get("maxLength", field.get("maxLength"))
            pattern = option.get("pattern", field.get("pattern"))
            # a pattern made of one character class admits only some characters; any other
            # pattern (an email address) is not given credit for the characters it excludes
            allowed = [c for c in WIDE_CHARACTERS if pattern is None or re.fullmatch(pattern, c * 2)]
            widest = max(encoded(c) - separators for c in allowed or WIDE_CHARACTERS)
            widths.append(separators + bound * widest)
    return max(widths)


def largest_valid_body(media_type: str, schema: dict[str, Any]) -> int:
    """Compact JSON (no blanks) or a form, with every field at its widest."""
    encoded = ENCODED[media_type]
    if media_type == "application/json":  # {"name":value,...}: two quotes around each string
        fields = [encoded(name) + 1 + widest_value(encoded, field, 2) for name, field in schema["properties"].items()]
        return 2 + sum(fields) + len(fields) - 1
    fields = [encoded(name) + 1 + widest_value(encoded, field, 0) for name, field in schema["properties"].items()]
    return sum(fields) + len(fields) - 1  # name=value&...


async def test_the_largest_valid_body_fits_the_body_limit(
    document: dict[str, Any], make_settings: MakeSettings
) -> None:
    """A request the document calls valid is never refused (API.md, Hardening v1.1), and that
    includes 413: every route's largest body fits the default MUSICEZ_MAX_BODY_SIZE with room to
    spare (unknown fields aside: the routes ignore them, and no client need send them)."""
    limit = make_settings().max_body_size
    sizes = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                size = largest_valid_body(media_type, resolve(document, content["schema"]))
                sizes[f"{method.upper()} {path} {media_type}"] = size
    assert "POST /auth/introspect application/x-www-form-urlencoded" in sizes
    too_big = {operation: size for operation, size in sizes.items() if size > limit - SPARE}
    assert not too_big, (limit, too_big)


async def test_the_largest_valid_introspection_form_is_answered(client: Client, document: dict[str, Any]) -> None:
    """Through the route: the longest token the document admits, of its widest characters, and the
    widest hint; a bad token, so `{"active": false}`, never a 413."""
    from tests.integration.test_api_admin import scoped_key

    fields = document["components"]["schemas"]["IntrospectionForm"]["properties"]
    token = '"' * fields["token"]["maxLength"]  # a VSCHAR that is 3 bytes encoded
    hint = "😀" * fields["token_type_hint"]["maxLength"]
    assert re.fullmatch(fields["token"]["pattern"], token)
    body = urllib.parse.urlencode({"token": token, "token_type_hint": hint})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **await scoped_key(client, "api")}
    response = await client.post("/auth/introspect", content=body, headers=headers)
    assert response.status_code == 200, (len(body), response.text)
    assert response.json() == {"active": False}


# -- the routes agree with the document ---------------------------------------------------------


async def test_schema_invalid_email_is_refused(client: Client) -> None:
    for path in ("/auth/register", "/auth/password/forgot"):
        response = await client.post(path, json={"email": "", "password": STRONG_PASSWORD})
        assert_problem(response, 400, "validation_error")
    response = await client.post("/auth/login", json={"email": "", "password": STRONG_PASSWORD})
    assert_problem(response, 401, "invalid_credentials")


async def test_schema_valid_but_refused_keeps_the_routes_code(client: Client) -> None:
    # 12 characters, as the document allows, but one of the most common passwords: 422, not 400
    response = await client.post("/auth/register", json={"email": unique_email(), "password": "password1234"})
    assert_problem(response, 422, "weak_password")
    # 72 characters but more than 72 bytes: the byte rule stays a 422
    response = await client.post("/auth/register", json={"email": unique_email(), "password": "é" * 40})
    assert_problem(response, 422, "weak_password")
    # shorter than the document says: still the policy's answer with every failed rule
    response = await client.post("/auth/register", json={"email": unique_email(), "password": "password"})
    assert_problem(response, 422, "weak_password")
    email = unique_email()
    await register(client, email)
    response = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})
    assert_problem(response, 409, "email_taken")
    response = await client.post("/auth/login", json={"email": email, "password": "Wrong-Password-1234"})
    assert_problem(response, 401, "invalid_credentials")


async def test_device_name_length_is_enforced_as_documented(client: Client) -> None:
    ok = await client.post(
        "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD, "device_name": "d" * 200}
    )
    assert ok.status_code == 201, ok.text
    too_long = await client.post(
        "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD, "device_name": "d" * 201}
    )
    assert_problem(too_long, 400, "validation_error")
