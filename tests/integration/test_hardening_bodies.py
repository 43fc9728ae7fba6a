"""No body is ever a 500 (API.md, Hardening rules v1.1): every route that takes a body answers
malformed input with a 4xx problem document.

The routes are enumerated from the app itself, so a new route with a body is covered at once.
Hypothesis drives them with raw bytes and with JSON-ish byte mutations of valid bodies; a few
seconds in CI. `MUSICEZ_TEST_FUZZ_EXAMPLES=2000` (any number) runs each property that many times.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from musicez.entrypoints.http.app import create_app
from musicez.entrypoints.settings import Settings
from tests.support.accounts import STRONG_PASSWORD
from tests.support.api import PROBLEM_JSON

EXAMPLES = int(os.environ.get("MUSICEZ_TEST_FUZZ_EXAMPLES", "40"))
GENEROUS = "1000000/minute"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Bytes that broke (or could break) a JSON decoder or what comes after it.
NASTY = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'"\xff"',
    b'"\xed\xa0\x80"',  # an encoded surrogate
    b'"\xc3"',  # a truncated sequence
    b'"\x00"',
    b'"\\u0000"',
    b'"a\\u0000b"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b"1" * 10_000,
    b"-" + b"9" * 10_000,
    b"1e99999",
    b"0." + b"0" * 10_000 + b"1",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b'"' + b"x" * 12_000 + b'"',
    b"\xef\xbb\xbf",  # a byte-order mark
    b"\\",
    b'"',
]


@pytest.fixture(scope="module")
def fuzz_client(
    database_url: str, redis_url: str, redis_prefix: str, secret_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient[Litestar]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    limits: dict[str, Any] = dict.fromkeys(
        (
            "rate_limit",
            "login_rate_limit",
            "login_client_rate_limit",
            "register_rate_limit",
            "forgot_rate_limit",
            "forgot_email_rate_limit",
            "account_failure_limit",
        ),
        GENEROUS,
    )
    app_settings = Settings.from_env(
        environ={},
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}:{uuid.uuid4().hex[:8]}",
        bcrypt_rounds=4,
        data_dir=str(tmp / "data"),
        secret_key=secret_key,
        mail_outbox=str(tmp / "outbox"),
        log_format="json",
        **limits,
    )
    with TestClient(create_app(settings=app_settings)) as client:
        yield client


def body_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path) of every route whose handler takes a body."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if "data" in handler.parsed_fn_signature.parameters:
                found.extend((method, route.path) for method in sorted(handler.http_methods))
    return sorted(found)


def valid_body(path: str) -> dict[str, Any]:
    """A well-formed body for each route with one (the mutations start from these)."""
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
    known: dict[str, dict[str, Any]] = {
        "/auth/register": {"email": email, "password": STRONG_PASSWORD, "device_name": "phone"},
        "/auth/login": {"email": email, "password": STRONG_PASSWORD, "device_name": "phone"},
        "/auth/refresh": {"refresh_token": "x" * 43},
        "/auth/password/forgot": {"email": email},
        "/auth/password/reset": {"token": "x" * 43, "new_password": STRONG_PASSWORD},
        "/auth/password/change": {"current_password": "wrong password 1", "new_password": STRONG_PASSWORD},
    }
    return known.get(path, {"value": "x"})


@pytest.fixture(scope="module")
def bearer_headers(fuzz_client: TestClient[Litestar]) -> dict[str, str]:
    created = fuzz_client.post(
        "/auth/register", json={"email": f"owner-{uuid.uuid4().hex[:8]}@example.com", "password": STRONG_PASSWORD}
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['access_token']}", "Content-Type": "application/json"}


def send(client: TestClient[Litestar], headers: dict[str, str], method: str, path: str, body: bytes) -> None:
    response = client.request(method, path, content=body, headers=headers)
    assert 400 <= response.status_code < 500 or response.status_code in (200, 201, 202, 204), (
        response.status_code,
        body[:200],
        response.text[:300],
    )
    if response.status_code >= 400:
        assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers
        problem = response.json()
        assert problem["status"] == response.status_code
        assert isinstance(problem["code"], str)
        assert problem["code"]


def test_every_route_with_a_body_is_covered(fuzz_client: TestClient[Litestar]) -> None:
    assert {path for _, path in body_routes(fuzz_client.app)} >= {
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/password/forgot",
        "/auth/password/reset",
        "/auth/password/change",
    }


def test_known_malformed_bodies_are_4xx_problems_on_every_route(
    fuzz_client: TestClient[Litestar], bearer_headers: dict[str, str]
) -> None:
    for method, path in body_routes(fuzz_client.app):
        base = valid_body(path)
        for nasty in NASTY:
            send(fuzz_client, bearer_headers, method, path, nasty)
            for field in base:  # the same inside an otherwise valid object
                text = json.dumps({**base, field: "@@"}).encode()
                send(fuzz_client, bearer_headers, method, path, text.replace(b'"@@"', nasty))
                send(fuzz_client, bearer_headers, method, path, text.replace(b"@@", nasty))


def test_deep_nesting_and_invalid_utf8_are_validation_errors(
    fuzz_client: TestClient[Litestar], bearer_headers: dict[str, str]
) -> None:
    for body in (b"[" * 5000 + b"]" * 5000, b'{"refresh_token": "\xff"}', b'{"\xff": 1}'):
        response = fuzz_client.post("/auth/refresh", content=body, headers=bearer_headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "validation_error"
        assert "\\xff" not in response.text


EMPTY_BODY_ROUTES = (
    "/auth/register",
    "/auth/login",
    "/auth/password/forgot",
    "/auth/password/reset",
    "/auth/password/change",
)


def test_an_empty_body_says_so(fuzz_client: TestClient[Litestar], bearer_headers: dict[str, str]) -> None:
    for path in EMPTY_BODY_ROUTES:
        response = fuzz_client.post(path, content=b"", headers={**bearer_headers, "Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert problem["errors"] == [{"field": "body", "message": "is empty: send a JSON object"}], path


@FUZZ
@given(data=st.data(), raw=st.binary(max_size=3000))
def test_raw_bytes_never_5xx(
    fuzz_client: TestClient[Litestar], bearer_headers: dict[str, str], data: st.DataObject, raw: bytes
) -> None:
    method, path = data.draw(st.sampled_from(body_routes(fuzz_client.app)))
    send(fuzz_client, bearer_headers, method, path, raw)


def _mutate(draw: st.DrawFn, body: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        end = draw(st.integers(at, min(len(body), at + 8)))
        piece = draw(
            st.one_of(
                st.sampled_from(NASTY),
                st.binary(max_size=8),
                st.sampled_from([b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\u", b"\\", b"\x00", b"\xff", b" "]),
                st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass")),
            )
        )
        body = body[:at] + piece + body[end:]
    return body


@st.composite
def mutated(draw: st.DrawFn, path: str) -> bytes:
    base = valid_body(path)
    shaped = draw(
        st.one_of(
            st.just(base),
            st.dictionaries(st.sampled_from([*base, "extra"]), st.sampled_from([None, 0, [], {}, "", True, 1.5])).map(
                lambda extra: {**base, **extra}
            ),
        )
    )
    return _mutate(draw, json.dumps(shaped, ensure_ascii=draw(st.booleans())).encode())


@FUZZ
@given(data=st.data())
def test_mutated_valid_bodies_never_5xx(
    fuzz_client: TestClient[Litestar], bearer_headers: dict[str, str], data: st.DataObject
) -> None:
    method, path = data.draw(st.sampled_from(body_routes(fuzz_client.app)))
    send(fuzz_client, bearer_headers, method, path, data.draw(mutated(path)))
