"""The served OpenAPI document is a reference people can work from (issue 17, item 10): every
operation says what it does, who may call it, what it returns and which errors are worth knowing,
with a specific success text; every request body and every JSON success body has realistic
examples that validate against their own schema, and so does every error response (one problem
document per code it names); every field says what it holds, with an example; and the password
fields state the password policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
METHODS = {"get", "post", "put", "patch", "delete"}
# What a generator writes when nobody wrote an example, and what Litestar says when nobody wrote a text.
PLACEHOLDERS = {"", "string", "str", "example", "foo", "bar", "test", "<string>", "null", "None"}
GENERIC_SUCCESS = {s.description for s in HTTPStatus} | {s.phrase for s in HTTPStatus} | {"Additional response"}
EXAMPLE_KEYS = {"summary", "description", "value", "externalValue"}  # OpenAPI 3.1 Example Object
# Codes any route with a body (or any route at all) can answer: the descriptions need not repeat them.
COMMON_CODES = {"validation_error", "payload_too_large", "unsupported_media_type", "service_unavailable"}
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
ROOT = Path(__file__).resolve().parents[2]
STATUS = re.compile(r"\b([2-5]\d\d)\b")


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def success_responses(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {status: response for status, response in operation["responses"].items() if status.startswith("2")}


def placeholders_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [found for item in value.values() for found in placeholders_in(item)]
    if isinstance(value, list):
        return [found for item in value for found in placeholders_in(item)]
    return [value] if isinstance(value, str) and value.strip() in PLACEHOLDERS else []


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="jsonschema-rs comes with the e2e group")
    # `#/components/schemas/...` references resolve against the root, which carries the components.
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]}, validate_formats=True)


def check_examples(document: dict[str, Any], where: str, media: dict[str, Any]) -> None:
    examples = media.get("examples") or {}
    assert examples, f"{where}: no example"
    check = validator(document, media["schema"])
    for name, example in examples.items():
        assert set(example) <= EXAMPLE_KEYS, (where, name, set(example) - EXAMPLE_KEYS)
        assert example.get("summary"), (where, name)
        value = example["value"]
        assert not placeholders_in(value), (where, name, placeholders_in(value))
        errors = [error.message for error in check.iter_errors(value)]
        assert not errors, (where, name, errors)
    assert any(example["value"] for example in examples.values()), f"{where}: only empty examples"


async def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    summaries = []
    for label, operation in operations(document):
        summary, description = operation.get("summary", ""), operation.get("description", "")
        assert summary.strip(), label
        # Litestar's default is the handler's name in CamelCase ("ListSessions"): a real one reads as words.
        assert not re.fullmatch(r"(?:[A-Z][a-z]+){2,}", summary), (label, summary)
        summaries.append(summary)
        assert len(description) >= 150, (label, description)
        for part in ("**Who:**", "**Returns:**"):  # who may call it, what it returns
            assert part in description, (label, part)
    assert len(set(summaries)) == len(summaries), "two operations share a summary"


def error_codes() -> set[str]:
    """The codes of docs/API.md's error table."""
    return set(re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", (ROOT / "docs" / "API.md").read_text(), re.MULTILINE))


async def test_descriptions_name_the_errors_their_responses_document(document: dict[str, Any]) -> None:
    known = error_codes()
    assert {"email_taken", "weak_password", "refresh_token_reused"} <= known
    for label, operation in operations(document):
        description = operation["description"]
        for status in STATUS.findall(description):  # a status the text names is a documented response
            assert status in operation["responses"], (label, status)
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            for code in (set(CODE.findall(response["description"])) & known) - COMMON_CODES:
                assert f"`{code}`" in description, (label, status, code)


async def test_every_success_response_has_a_specific_description(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        responses = success_responses(operation)
        assert responses, label
        for status, response in responses.items():
            text = response["description"]
            assert text not in GENERIC_SUCCESS, (label, status, text)
            assert len(text) >= 15, (label, status, text)


async def test_request_bodies_have_realistic_examples_that_validate(document: dict[str, Any]) -> None:
    seen = set()
    for label, operation in operations(document):
        if "requestBody" not in operation:
            continue
        for media_type, media in operation["requestBody"]["content"].items():
            check_examples(document, f"{label} request {media_type}", media)
            seen.add(label)
    assert {"POST /auth/register", "POST /auth/login", "POST /auth/introspect"} <= seen


async def test_json_responses_have_realistic_examples_that_validate(document: dict[str, Any]) -> None:
    seen = set()
    for label, operation in operations(document):
        for status, response in operation["responses"].items():
            for media_type, media in (response.get("content") or {}).items():
                if media_type != "application/json":
                    continue  # problem documents (their fields have examples) and /auth/verify's empty text
                check_examples(document, f"{label} {status}", media)
                seen.add(label)
        for status, response in success_responses(operation).items():
            assert set(response.get("content") or {}) <= {"application/json", "text/plain"}, (label, status)
    assert {"GET /auth/me", "GET /auth/sessions", "POST /auth/refresh", "GET /health"} <= seen


async def test_problem_responses_show_the_problems_they_name(document: dict[str, Any]) -> None:
    """Each error response has an example problem document for each code its description names, of
    its own status (not one composed from the Problem fields' examples, which fit a 401 only)."""
    for label, operation in operations(document):
        for status, response in operation["responses"].items():
            media = (response.get("content") or {}).get("application/problem+json")
            if media is None:
                continue
            check_examples(document, f"{label} {status}", media)
            for name, example in media["examples"].items():
                problem = example["value"]
                assert problem["status"] == int(status), (label, status, name)
                assert problem["type"] == f"urn:musicez:problem:{problem['code']}", (label, status, name)
                assert problem["code"] in response["description"], (label, status, name)


async def test_every_field_says_what_it_holds_with_an_example(document: dict[str, Any]) -> None:
    for name, schema in document["components"]["schemas"].items():
        for field, declared in schema.get("properties", {}).items():
            if "$ref" in declared:  # a nested body: its own fields say it
                continue
            typed = [option for option in declared.get("oneOf", []) if option.get("type") != "null"]
            # `str | UNSET` is said on its one real branch
            prop = typed[0] if "description" not in declared and len(typed) == 1 else declared
            assert prop.get("description"), (name, field)
            options = prop.get("oneOf", [prop])
            scalar = all(option.get("type") in {"string", "integer", "number", "boolean", "null"} for option in options)
            if not scalar or "enum" in prop or "const" in prop:
                continue  # containers: their items' fields carry the examples; an enum shows its values
            assert prop.get("examples"), (name, field)
            assert not placeholders_in(prop["examples"]), (name, field, prop["examples"])
            check = validator(document, prop)
            for value in prop["examples"]:
                assert check.is_valid(value), (name, field, value)


async def test_the_password_fields_state_the_policy(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    new_passwords = {
        ("RegisterBody", "password"),
        ("ResetPasswordBody", "new_password"),
        ("ChangePasswordBody", "new_password"),
    }
    for body, field in new_passwords:
        description = schemas[body]["properties"][field]["description"]
        for rule in (
            "at least 12 characters",
            "at most 72 bytes in UTF-8",
            "most common passwords",
            "local part of the account's email address",
            "3 of the 4 character classes",
            "20 characters or longer",
            "5 different characters",
            "whitespace, control or format characters",
            "422 `weak_password`",
        ):
            assert rule in description, (body, field, rule)
    for body, field in (("LoginBody", "password"), ("ChangePasswordBody", "current_password")):
        description = schemas[body]["properties"][field]["description"]
        assert "12 to 72 characters" in description, (body, field)
