"""What Litestar's own exceptions answer: a code of API.md's table where one fits (never the
catch-all `http_error` for a status the service answers), and a 500 of the framework's answers and
is logged like any unhandled error."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import pytest
from litestar import Request
from litestar import exceptions as litestar_errors

from musicez.entrypoints.http.body import BodyIncomplete, BodyTimedOut
from musicez.entrypoints.http.problems import http_error

# Only Litestar's own guards raise PermissionDeniedException, and the service uses none; no code of
# API.md says a bare 403.
NO_CONTRACT_CODE = {403}
ARGUMENTS: dict[str, dict[str, Any]] = {"TemplateNotFoundException": {"template_name": "page.html"}}


def _request() -> Request[Any, Any, Any]:
    return Request(
        {  # type: ignore[arg-type]
            "type": "http",
            "method": "POST",
            "path": "/auth/login",
            "root_path": "",
            "scheme": "http",
            "query_string": b"",
            "headers": [],
            "server": ("127.0.0.1", 8000),
        }
    )


def _answer(error: litestar_errors.HTTPException) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = http_error(_request(), error)
    asgi = response.to_asgi_response(app=None, request=_request())
    return int(response.status_code or 0), json.loads(asgi.body), dict(response.headers)


FRAMEWORK_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(litestar_errors, inspect.isclass)
        if issubclass(cls, litestar_errors.HTTPException) and cls.status_code not in NO_CONTRACT_CODE
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("error", FRAMEWORK_ERRORS, ids=lambda cls: cls.__name__)
def test_every_framework_error_has_a_code_of_its_own(error: type[litestar_errors.HTTPException]) -> None:
    status, body, _ = _answer(error(**ARGUMENTS.get(error.__name__, {})))
    assert body["code"] != "http_error", (error, body)
    assert body["status"] == status


def test_a_framework_500_is_an_internal_error_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="musicez.http"):
        status, body, _ = _answer(litestar_errors.InternalServerException("stream consumed"))
    assert status == 500
    assert body["code"] == "internal_error"
    assert "stream consumed" not in body["detail"]  # a 5xx's own words are not the client's business
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "/auth/login" in caplog.records[0].getMessage()


def test_a_body_that_ended_early_is_a_400_validation_error() -> None:
    status, body, headers = _answer(BodyIncomplete())
    assert (status, body["code"]) == (400, "validation_error")
    assert body["errors"] == [{"field": "body", "message": "The request body ended before its declared length"}]
    assert headers["Connection"] == "close"


def test_a_body_that_came_too_slowly_is_a_400_validation_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="musicez.http"):
        status, body, headers = _answer(BodyTimedOut(30))
    assert (status, body["code"], body["status"]) == (400, "validation_error", 400)
    assert body["detail"] == "The request body did not arrive within 30 seconds"
    assert headers["Connection"] == "close"
    assert not caplog.records  # the client's doing: the access log has it, as a 400
