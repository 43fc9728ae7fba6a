"""The HTTP layer owns the status of every domain error: each one answers the status API.md's
error table gives its code, and the domain itself knows nothing of HTTP (issue 13, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from musicez.domain import errors
from musicez.entrypoints.http.statuses import BY_CLASS, STATUS, every_error, status_of

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
TABLE = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", API_MD.read_text(), re.MULTILINE))
NOT_IN_THE_TABLE = {"error", "api_key_not_found"}  # the abstract base; a key id no route takes any more


@pytest.mark.parametrize("error", every_error(), ids=lambda e: e.__name__)
def test_every_domain_error_answers_the_status_api_md_gives_its_code(error: type[errors.ClientError]) -> None:
    assert BY_CLASS[error] == status_of(error)
    if error.code not in NOT_IN_THE_TABLE:
        assert status_of(error) == int(TABLE[error.code]), error


def test_the_domain_says_nothing_of_http() -> None:
    assert not any(hasattr(error, "status") for error in every_error())
    assert set(STATUS) <= set(every_error())


def test_a_subclass_answers_its_nearest_listed_ancestor() -> None:
    assert status_of(errors.TokenExpired) == 401
    assert status_of(errors.HashingBusy) == 503
    assert status_of(errors.WeakPassword) == 422  # not its parent's 400
