"""A problem's `detail` says what the client can do; it does not repeat the `title` (issue 17)."""

from __future__ import annotations

import pytest

from musicez.domain import errors

COMMON = [
    errors.EmailTaken,
    errors.InvalidCredentials,
    errors.MissingCredentials,
    errors.TokenExpired,
    errors.TokenRevoked,
    errors.InvalidRefreshToken,
    errors.RefreshTokenReused,
    errors.UserTokenRequired,
    errors.SessionNotFound,
    errors.InvalidResetToken,
    errors.InvalidCurrentPassword,
    errors.InsufficientScope,
    errors.AccountDisabled,
    errors.UserNotFound,
    errors.InvalidSecurityToken,
    errors.CsrfRejected,
    errors.ServiceUnavailable,
]


@pytest.mark.parametrize("error", COMMON, ids=lambda e: e.code)
def test_the_default_detail_is_not_the_title(error: type[errors.ClientError]) -> None:
    raised = error()
    assert raised.detail
    assert raised.detail != raised.title


def test_a_given_detail_wins() -> None:
    assert errors.InvalidCredentials("exactly this").detail == "exactly this"
