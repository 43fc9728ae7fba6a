"""Schemathesis (pinned to 4.32.x) against the OpenAPI document served by a real server: every
operation, at least 50 generated examples each (positive, plus negative ones), no 5xx, no
response that breaks the declared schema, and no positive (schema-valid) request answered 400
`validation_error` (API.md, Hardening v1.1: the document states the real constraints; the
route-specific refusals 401, 409, 422 and the like remain)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.server import Server, StartServer

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

POSITIVE_EXAMPLES = 50
NEGATIVE_EXAMPLES = 20
PASSWORD = "Correct-Horse-Battery-9"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def _refresh_without_a_token(case: Any, response: Any) -> bool:
    """The one refusal the document cannot state: `POST /auth/refresh` takes its token from the body
    or from the browser-mode cookie, so a body without one is valid by the schema and, with no
    cookie, 400 `validation_error` (field `refresh_token`) as API.md says."""
    if case.path != "/auth/refresh" or (isinstance(case.body, dict) and "refresh_token" in case.body):
        return False
    return [e.get("field") for e in response.json().get("errors", [])] == ["refresh_token"]


def valid_data_is_never_a_validation_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Positive data: whatever the route refuses, it is never for being malformed (ST202)."""
    if response.status_code == 400:
        try:
            code = response.json().get("code")
        except ValueError:
            code = None
        if code == "validation_error" and not _refresh_without_a_token(case, response):
            raise AssertionError(f"schema-valid request answered 400 validation_error: {response.text[:500]}")
    return None


POSITIVE_CHECKS = [*CHECKS, valid_data_is_never_a_validation_error]
GENEROUS = {
    "MUSICEZ_RATE_LIMIT": "100000/minute",
    "MUSICEZ_LOGIN_RATE_LIMIT": "100000/minute",
    "MUSICEZ_LOGIN_CLIENT_RATE_LIMIT": "100000/minute",
    "MUSICEZ_REGISTER_RATE_LIMIT": "100000/minute",
    "MUSICEZ_FORGOT_RATE_LIMIT": "100000/minute",
    "MUSICEZ_FORGOT_EMAIL_RATE_LIMIT": "100000/minute",
    # generated password changes are mostly wrong current passwords: failures of the account,
    # which its logins between the cases do not wipe
    "MUSICEZ_ACCOUNT_FAILURE_LIMIT": "100000/minute",
}

pytestmark = pytest.mark.slow


class Account:
    """One user; a fresh session (access token) per generated case, since cases log out."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
        created = http.post("/auth/register", json={"email": self.email, "password": PASSWORD})
        assert created.status_code == 201, created.text

    def headers(self) -> dict[str, str]:
        login = self.http.post("/auth/login", json={"email": self.email, "password": PASSWORD})
        if login.status_code == 401:  # a generated password change or reset got through: start over
            self.__init__(self.http)  # type: ignore[misc]
            return self.headers()
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}


def takes_input(operation: Any) -> bool:
    return bool(operation.body) or any(True for _ in operation.path_parameters)


def fuzz(
    strategy: Any, examples: int, label: str, calls: Counter[str], server: Server, account: Account, checks: Any
) -> Any:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        calls[label] += 1
        case.call_and_validate(base_url=server.url, headers=account.headers(), checks=checks)

    return exercise


def test_every_operation_survives_generated_requests(start_server: StartServer) -> None:
    server: Server = start_server(**GENEROUS)
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /auth/register",
        "POST /auth/login",
        "POST /auth/refresh",
        "GET /auth/me",
        "DELETE /auth/sessions/{session_id}",
        "POST /auth/password/reset",
        "GET /health/ready",
    }
    calls: Counter[str] = Counter()
    failures: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        account = Account(http)

        for operation in operations:
            label = f"{operation.method.upper()} {operation.path}"
            for mode, examples in (
                (GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
            ):
                checks = POSITIVE_CHECKS if mode is GenerationMode.POSITIVE else CHECKS
                strategy = operation.as_strategy(generation_mode=mode)
                exercise = fuzz(strategy, examples, label, calls, server, account, checks)
                try:
                    exercise()
                except Unsatisfiable:
                    # Nothing to negate: no body, no parameters (the public health routes).
                    if mode is not GenerationMode.NEGATIVE or takes_input(operation):
                        raise
                except Exception as error:  # gather every operation's failure, not just the first
                    failures.setdefault(label, f"{mode}: {str(error)[:3000]}")

    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if takes_input(operation):
            assert calls[label] >= POSITIVE_EXAMPLES, (label, calls[label])
    assert "Traceback" not in server.logs()
