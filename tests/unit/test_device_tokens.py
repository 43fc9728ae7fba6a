"""Device tokens: stateless, bound to one account and its credential stamp under the server key,
valid for 90 days."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.adapters.system import OsSecrets
from musicez.application.devices import DEVICE_TOKEN_MAX_LENGTH, DeviceTokens
from musicez.domain.email import Email
from musicez.domain.errors import InvalidRefreshToken
from musicez.domain.ids import UserId
from musicez.domain.refresh_token import RefreshToken
from musicez.domain.user import User
from tests.support.fakes import FakeClock

REGISTERED = datetime(2026, 11, 30, 8, 15, 0, 123456, tzinfo=UTC)
USER = User(UserId(uuid.uuid4()), Email.parse("owner@example.com"), "$2b$12$hash", REGISTERED, REGISTERED)


def devices(clock: FakeClock | None = None, key: bytes = b"k" * 32) -> DeviceTokens:
    return DeviceTokens(HmacHasher(key), OsSecrets(), clock or FakeClock(datetime(2026, 12, 1, tzinfo=UTC)))


def test_a_device_token_is_valid_for_its_account_for_90_days() -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    tokens = devices(clock)
    token = tokens.issue(USER)
    assert len(token) <= DEVICE_TOKEN_MAX_LENGTH
    assert tokens.is_valid(token, USER)
    assert not tokens.is_valid(token, dataclasses.replace(USER, id=UserId(uuid.uuid4())))  # another account
    assert not devices(clock, key=b"j" * 32).is_valid(token, USER)  # another server key
    assert tokens.issue(USER) != token  # each login a new one
    clock.advance(timedelta(days=90).total_seconds() - 1)
    assert tokens.is_valid(token, USER)
    clock.advance(1)
    assert not tokens.is_valid(token, USER)


def test_a_device_token_names_no_one_and_is_no_refresh_token() -> None:
    token = devices().issue(USER)
    assert USER.id.hex not in token
    try:
        RefreshToken.parse(token)
    except InvalidRefreshToken:
        pass
    else:  # pragma: no cover
        raise AssertionError("a device token parsed as a refresh token")


@given(st.text(max_size=200))
def test_anything_else_is_simply_no_device_token(text: str) -> None:
    assert not devices().is_valid(text, USER)


@given(st.integers(min_value=0, max_value=200), st.sampled_from("ABCD_-z9="))
def test_a_changed_device_token_is_no_device_token(position: int, replacement: str) -> None:
    tokens = devices()
    token = tokens.issue(USER)
    position %= len(token)
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:
        assert not tokens.is_valid(changed, USER)


def test_a_change_of_the_accounts_credentials_voids_every_earlier_device_token() -> None:
    """A password change or reset, a disable or an enable (each sets `updated_at`): a device token
    made before it proves nothing any more; one made after it does. A login, or a rehash of the
    same password at a higher cost, changes nothing (`updated_at` stays)."""
    tokens = devices()
    before = tokens.issue(USER)
    rehashed = dataclasses.replace(USER, password_hash="$2b$13$stronger", last_login_at=REGISTERED)
    assert tokens.is_valid(before, rehashed)
    for changed_by in (timedelta(microseconds=1), timedelta(days=3)):
        reset = dataclasses.replace(USER, updated_at=REGISTERED + changed_by)
        assert not tokens.is_valid(before, reset)
        assert tokens.is_valid(tokens.issue(reset), reset)


def test_a_stamp_read_back_without_its_zone_is_the_same_stamp() -> None:
    naive = dataclasses.replace(USER, updated_at=REGISTERED.replace(tzinfo=None))
    assert devices().is_valid(devices().issue(USER), naive)
