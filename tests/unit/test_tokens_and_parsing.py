"""Parsing what clients and operators type: refresh tokens, API keys, rate limits, durations."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.domain.api_key import API_KEY_PREFIX, PresentedKey, display_prefix
from musicez.domain.duration import InvalidDuration, parse_duration
from musicez.domain.errors import InvalidRefreshToken
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.domain.rate_limit import InvalidRateLimit, RateLimit
from musicez.domain.refresh_token import MAX_GENERATION, SECRET_BYTES, TAG_BYTES, RefreshToken

uuids = st.uuids()
secrets_ = st.binary(min_size=SECRET_BYTES, max_size=SECRET_BYTES)
tags = st.binary(min_size=TAG_BYTES, max_size=TAG_BYTES)
generations = st.integers(min_value=0, max_value=MAX_GENERATION)
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


# --- refresh tokens -----------------------------------------------------------------------


def a_token() -> RefreshToken:
    return RefreshToken(
        UserId(uuid.uuid4()), SessionId(uuid.uuid4()), 0, bytes(range(SECRET_BYTES)), bytes(range(TAG_BYTES))
    )


@given(uuids, uuids, generations, secrets_, tags)
def test_refresh_token_round_trip(
    user_id: UserId, session_id: SessionId, generation: int, secret: bytes, tag: bytes
) -> None:
    token = RefreshToken(user_id, session_id, generation, secret, tag)
    text = token.encode()
    assert len(text) == 118
    assert set(text) <= set(URLSAFE)
    assert RefreshToken.parse(text) == token


@given(st.text(max_size=140))
def test_refresh_token_parse_accepts_only_canonical_encodings(text: str) -> None:
    try:
        parsed = RefreshToken.parse(text)
    except InvalidRefreshToken:
        return
    assert parsed.encode() == text


@given(uuids, uuids, secrets_, st.integers(min_value=0, max_value=117), st.sampled_from(list(URLSAFE + "+/=. ")))
def test_refresh_token_with_one_character_changed_is_refused_or_another_token(
    user_id: UserId, session_id: SessionId, secret: bytes, position: int, replacement: str
) -> None:
    token = RefreshToken(user_id, session_id, 7, secret, bytes(TAG_BYTES))
    text = token.encode()
    tampered = text[:position] + replacement + text[position + 1 :]
    if tampered == text:
        return
    try:
        parsed = RefreshToken.parse(tampered)
    except InvalidRefreshToken:
        return
    assert parsed != token  # it names another token, which the store will not know
    assert parsed.encode() == tampered


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t + "A",  # one too many
        lambda t: t + "==",  # padded
        lambda t: t[:-2] + "==",  # padding in place of data
        lambda t: " " + t[1:],  # whitespace
        lambda t: t[:-1] + "\N{LATIN SMALL LETTER E WITH ACUTE}",  # non-ASCII
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t[:-1] + "+",  # std alphabet
        lambda t: "",
        lambda t: t * 2,
        lambda t: "A" * 10_000,
    ],
)
def test_malformed_refresh_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = RefreshToken(
        UserId(uuid.uuid4()),
        SessionId(uuid.uuid4()),
        3,
        b"\xfb\xff" * (SECRET_BYTES // 2),
        b"\xfb\xff" * (TAG_BYTES // 2),
    )
    with pytest.raises(InvalidRefreshToken):
        RefreshToken.parse(mangle(token.encode()))


def test_a_non_canonical_last_character_is_refused() -> None:
    text = a_token().encode()
    # The last character carries 2 bits of data and 4 bits that must be zero.
    index = URLSAFE.index(text[-1])
    assert index % 16 == 0
    with pytest.raises(InvalidRefreshToken):
        RefreshToken.parse(text[:-1] + URLSAFE[index + 1])


# --- API keys as presented ----------------------------------------------------------------


@given(uuids, st.binary(min_size=24, max_size=24))
def test_presented_key_round_trip(key_id: ApiKeyId, raw: bytes) -> None:
    secret = base64.urlsafe_b64encode(raw).decode()
    key = PresentedKey(key_id, secret)
    text = key.encode()
    assert text.startswith(API_KEY_PREFIX)
    assert PresentedKey.parse(text) == key
    assert key.display_prefix == display_prefix(key_id)
    assert secret not in key.display_prefix


@given(st.text(max_size=140))
def test_presented_key_parse_accepts_only_well_formed_keys(text: str) -> None:
    parsed = PresentedKey.parse(text)
    assert parsed is None or parsed.encode() == text


def valid_key() -> str:
    return PresentedKey(ApiKeyId(uuid.uuid4()), "A" * 31 + "-").encode()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],  # truncated
        lambda k: k[: len(API_KEY_PREFIX) + 32],  # the id alone
        lambda k: k + "=",  # padded
        lambda k: k + " ",
        lambda k: " " + k,
        lambda k: "sk_" + k.removeprefix(API_KEY_PREFIX) + "x",  # another prefix, same length
        lambda k: "MEZ_" + k.removeprefix(API_KEY_PREFIX),  # the prefix in another case
        lambda k: k[:4] + k[4:36].upper() + k[36:],  # upper-case hex
        lambda k: k[:4] + "g" + k[5:],  # not hex
        lambda k: k[:-1] + "\N{LATIN SMALL LETTER E WITH ACUTE}",  # unicode
        lambda k: k[:-1] + "=",
        lambda k: k[:-1] + "/",
        lambda k: "",
        lambda k: API_KEY_PREFIX,
        lambda k: k * 2,
        lambda k: (k * 200)[:10_240],  # 10 KB
    ],
)
def test_malformed_api_keys_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    assert PresentedKey.parse(mangle(valid_key())) is None


def test_a_valid_key_parses() -> None:
    key_id = ApiKeyId(uuid.uuid4())
    parsed = PresentedKey.parse(f"{API_KEY_PREFIX}{key_id.hex}{'a' * 32}")
    assert parsed == PresentedKey(key_id, "a" * 32)


# --- rate limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/minute", RateLimit(10, "minute")),
        ("1/second", RateLimit(1, "second")),
        ("600/hour", RateLimit(600, "hour")),
        ("5/day", RateLimit(5, "day")),
        (" 7 / Minute ", RateLimit(7, "minute")),
        ("1000000000/day", RateLimit(1_000_000_000, "day")),
    ],
)
def test_rate_limits_parse(text: str, expected: RateLimit) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "10/",
        "/minute",
        "10/week",
        "10/minutes",
        "0/minute",
        "-1/minute",
        "+1/minute",
        "1.5/minute",
        "1e3/minute",
        "ten/minute",
        "1000000001/day",
        "10/minute/extra",
        "\N{SUPERSCRIPT TWO}/minute",
    ],
)
def test_invalid_rate_limits_are_refused(text: str) -> None:
    with pytest.raises(InvalidRateLimit):
        RateLimit.parse(text)


@given(st.integers(min_value=1, max_value=1_000_000_000), st.sampled_from(["second", "minute", "hour", "day"]))
def test_rate_limit_round_trips_through_its_text(amount: int, period: str) -> None:
    limit = RateLimit(amount, period)
    assert RateLimit.parse(str(limit)) == limit
    assert limit.seconds == {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[period]


@given(st.text(max_size=30))
def test_rate_limit_parse_raises_only_invalid_rate_limit(text: str) -> None:
    try:
        limit = RateLimit.parse(text)
    except InvalidRateLimit:
        return
    assert 1 <= limit.amount <= 1_000_000_000


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45", timedelta(seconds=45)),
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("90d", timedelta(days=90)),
        (" 5 m ", timedelta(minutes=5)),
        ("3650d", timedelta(days=3650)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "0", "0d", "-5m", "1.5h", "1w", "3651d", "m", "5 minutes", "5mm", "99999999999", "1h30m"]
)
def test_invalid_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


@given(st.text(max_size=20))
def test_duration_parse_raises_only_invalid_duration(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidDuration:
        return
    assert timedelta(0) < value <= timedelta(days=3650)
