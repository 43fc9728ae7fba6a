from __future__ import annotations

import pytest

from musicez.domain import base64url
from musicez.domain.errors import InvalidResetToken
from musicez.domain.reset_token import ResetToken


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(32))])
def test_round_trip_without_padding(raw: bytes) -> None:
    text = base64url.encode(raw)
    assert not set(text) & set("=+/")
    assert base64url.decode(text) == raw == base64url.decode_canonical(text)


def test_only_the_canonical_spelling() -> None:
    with pytest.raises(ValueError, match="canonical"):
        base64url.decode_canonical("AB")  # trailing bits set: decodes, but is not what encode gives
    with pytest.raises(ValueError, match="Invalid base64"):
        base64url.decode("A")


def test_reset_token_value_object() -> None:
    token = ResetToken.new(b"\x01" * 32)
    assert len(token.token) == 43
    assert ResetToken.parse(token.token) == token
    assert token.token not in repr(token)
    for bad in ("", "a" * 42, "a" * 44, "a" * 42 + "="):
        with pytest.raises(InvalidResetToken):
            ResetToken.parse(bad)


def test_shape_is_length_and_alphabet() -> None:
    assert base64url.has_shape(base64url.encode(bytes(32)), 32)
    assert len(base64url.encode(bytes(32))) == 43
    assert not base64url.has_shape("a" * 42, 32)
    assert not base64url.has_shape("a" * 42 + "=", 32)
    assert not base64url.has_shape("a" * 42 + "+", 32)
