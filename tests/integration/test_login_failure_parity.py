"""A failed login answers alike, in the same time, for an unknown email and a wrong password
(API.md, `POST /auth/login`): beyond the equal bcrypt work, the database work is the same too.
The known account's `login_failed` activity item is written by the very statement an unknown
email's stand-in goes through (which keeps nothing). Timing itself is measured, not asserted
(a timed test on a shared machine flakes): the statements are what a test can hold fixed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from musicez.entrypoints.http.app import create_app
from tests.support.accounts import unique_email
from tests.support.api import MakeSettings, assert_problem, bearer, register

WRONG = "Wrong-Password-but-Long-42"


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs, its literals and parameter lists blanked."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(re.sub(r"\$\d+|\?|'[^']*'", "?", " ".join(statement.split())))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


async def test_a_wrong_password_and_an_unknown_email_run_the_same_statements(
    make_settings: MakeSettings, statements: list[str]
) -> None:
    async with AsyncTestClient(create_app(settings=make_settings())) as client:
        email = unique_email()
        grant = await register(client, email)
        for attempt in range(2):  # the second time: every cache and prepared statement warm
            statements.clear()
            assert_problem(
                await client.post("/auth/login", json={"email": email, "password": WRONG}), 401, "invalid_credentials"
            )
            known = list(statements)
            statements.clear()
            assert_problem(
                await client.post("/auth/login", json={"email": unique_email(), "password": WRONG}),
                401,
                "invalid_credentials",
            )
            unknown = list(statements)

            assert known == unknown, attempt
            assert any(s.startswith("INSERT INTO activity") for s in known)

        feed = (await client.get("/auth/activity", headers=bearer(grant))).json()["items"]
        # the unknown emails' stand-ins kept nothing
        assert [item["type"] for item in feed] == ["login_failed", "login_failed", "login"]
