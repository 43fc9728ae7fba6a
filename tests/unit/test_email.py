"""The Email value object."""

from __future__ import annotations

import pytest

from musicez.domain.email import MAX_EMAIL_LENGTH, Email
from musicez.domain.errors import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("listener@example.com", "listener@example.com"),
        ("Listener@Example.COM", "listener@example.com"),
        ("  listener@example.com\t\n", "listener@example.com"),
        ("First.Last+Tag@Sub.Example.Org", "first.last+tag@sub.example.org"),
    ],
)
def test_addresses_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert Email.parse(raw).value == normalised
    assert str(Email.parse(raw)) == normalised


def test_spellings_of_one_address_are_equal() -> None:
    assert Email.parse("DJ@Example.com") == Email.parse(" dj@example.COM ")
    assert hash(Email.parse("DJ@Example.com")) == hash(Email.parse("dj@example.com"))


def test_local_part() -> None:
    assert Email.parse("Jane.Doe@example.com").local_part == "jane.doe"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "@example.com",
        "listener@",
        "two@@example.com",
        "spaces in@example.com",
        "listener@example",
        "listener@exa mple.com",
        "listener@.com",
        "a" * 250 + "@example.com",
    ],
)
def test_invalid_addresses_are_refused_with_a_field_error(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Email.parse(raw)
    assert caught.value.code == "validation_error"
    assert [e.field for e in caught.value.errors] == ["email"]


def test_the_field_name_is_the_callers() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Email.parse("nope", field="new_email")
    assert caught.value.errors[0].field == "new_email"


def test_the_length_limit() -> None:
    local = "a" * 64
    domain_label = "b" * 60
    address = f"{local}@{domain_label}.{domain_label}.{domain_label}.com"
    assert len(address) <= MAX_EMAIL_LENGTH
    assert Email.parse(address).value == address
    with pytest.raises(ValidationFailed):
        Email.parse(" " * 3 + "x" * (MAX_EMAIL_LENGTH + 1))
