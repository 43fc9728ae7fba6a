"""The Email value object."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicez.domain.email import DOCUMENTED_PATTERN, MAX_EMAIL_LENGTH, Email, email_key
from musicez.domain.errors import ValidationFailed
from tests.support.normalising import normalised_lengths


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("listener@example.com", "listener@example.com"),
        ("Listener@Example.COM", "listener@example.com"),
        ("  listener@example.com\t\n", "listener@example.com"),
        ("First.Last+Tag@Sub.Example.Org", "first.last+tag@sub.example.org"),
    ],
)
def test_addresses_are_trimmed_and_compared_lower_cased(raw: str, normalised: str) -> None:
    assert Email.parse(raw).key == normalised
    assert str(Email.parse(raw)) == normalised  # what lookups and rate-limit keys use
    assert Email.parse(raw).value == raw.strip()  # the address as given is kept for display and mail


def test_spellings_of_one_address_are_equal() -> None:
    assert Email.parse("DJ@Example.com") == Email.parse(" dj@example.COM ")
    assert hash(Email.parse("DJ@Example.com")) == hash(Email.parse("dj@example.com"))


def test_local_part() -> None:
    assert Email.parse("Jane.Doe@example.com").local_part == "Jane.Doe"


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


# --- v1.1: look-alikes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("\uff41\uff4c\uff49\uff43\uff45@example.com", "alice@example.com"),  # full-width local part
        ("Alice@\uff45xample.com", "alice@example.com"),  # a full-width letter in the domain
        ("stra\u00dfe@example.com", "STRASSE@example.com"),  # case folding: ß is ss
        ("caf\u00e9@example.com", "cafe\u0301@example.com"),  # composed and decomposed
        ("\u212bngstr\u00f6m@example.com", "\u00e5ngstr\u00f6m@example.com"),  # the Angstrom sign
    ],
)
def test_look_alikes_are_one_address(one: str, other: str) -> None:
    assert Email.parse(one) == Email.parse(other)
    assert Email.parse(one).key == Email.parse(other).key
    assert hash(Email.parse(one)) == hash(Email.parse(other))


def test_the_address_as_given_is_kept_trimmed_and_nfc() -> None:
    given_address = "  Cafe\u0301.Owner@Example.com \t"
    email = Email.parse(given_address)
    assert email.value == unicodedata.normalize("NFC", given_address.strip())
    assert email.value == "Caf\u00e9.Owner@Example.com"
    assert email.key == "caf\u00e9.owner@example.com"


def test_different_addresses_stay_different() -> None:
    assert Email.parse("alice@example.com") != Email.parse("alicia@example.com")
    assert Email.parse("strasse@example.com") != Email.parse("strase@example.com")


@given(st.text(max_size=40))
def test_the_key_is_stable(text: str) -> None:
    key = email_key(text)
    assert email_key(key) == key  # idempotent: a key is its own key
    assert email_key(unicodedata.normalize("NFD", text)) == key
    assert email_key(unicodedata.normalize("NFKC", text)) == key


# -- what the OpenAPI document states (DOCUMENTED_PATTERN) and what is accepted agree ------------

REFUSED_BY_BOTH = [
    "a@x.arpa",
    "user@localhost",
    "a@b",
    "a@[127.0.0.1]",
    '"a b"@example.com',
    "a@x.local",
    "a@X.LOCAL",
    "a@x.onion",
    "a@123.123.123.123",
    "a@x.invalid",
    # what an audit found the document admitting while the service refused it with 400
    "x@-a.com",
    "x@a-.com",
    "x@a.b_",
    "\u200bx@a.bc",
    "x@a.b\u200b",
    "x@" + "a" * 64 + ".com",
    "x@ab--cd.com",
    "\x03@a.com",
    "\u0301a@a.com",
]


@pytest.mark.parametrize("address", REFUSED_BY_BOTH)
def test_an_address_the_document_calls_invalid_is_refused(address: str) -> None:
    assert re.fullmatch(DOCUMENTED_PATTERN, address) is None
    with pytest.raises(ValidationFailed):
        Email.parse(address)


@settings(max_examples=1000, deadline=None)
@given(st.emails())
def test_every_address_the_document_calls_valid_is_accepted(address: str) -> None:
    """RFC 5322 addresses as property-based clients generate them for `format: email` (Hypothesis,
    hypothesis-jsonschema, Schemathesis, which keep those the pattern admits): each one the pattern
    admits is one account's address. The pattern leaves out only internationalized domains in
    their ASCII form (`xn--` labels: whether one is valid Punycode is no regular expression's to
    say); the service takes those too."""
    if re.fullmatch(DOCUMENTED_PATTERN, address) is None:
        assert "xn--" in address.lower(), address
    assert Email.parse(address).value == address


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.from_regex(DOCUMENTED_PATTERN, fullmatch=True).filter(lambda address: len(address) <= MAX_EMAIL_LENGTH))
def test_every_string_the_pattern_admits_is_accepted(address: str) -> None:
    """What a client generating from the pattern itself sends (an audit found `x@-a.com`, a domain
    label of 64 characters, `x@a.b_` and a zero-width space in the local part admitted by the
    document and refused with 400): each is an address the service takes."""
    assert Email.parse(address).value == address


@pytest.mark.parametrize(
    "address", ["ada@example.com", "x@y.test", "\uff53\uff54\uff52\uff41\u00dfe@Example.com", "a.b+c@sub.example.co.uk"]
)
def test_everyday_and_international_addresses_are_valid_in_both(address: str) -> None:
    assert re.fullmatch(DOCUMENTED_PATTERN, address)
    Email.parse(address)


@given(
    local=st.text(alphabet="abc", min_size=1, max_size=3),
    marks=st.text(alphabet=st.sampled_from("\u0301\u0316\u0302\u0317\u0345"), min_size=1, max_size=30),
    repeat=st.integers(1, 400),
)
def test_an_address_too_long_for_any_normal_form_is_refused_without_normalising(
    local: str, marks: str, repeat: int
) -> None:
    """Past four times the limit no normal form fits (NFC composes at most four code points
    into one), so such an input is refused as it is: NFC's time is quadratic in a run of marks."""
    raw = local + marks * repeat + "@example.com"
    with normalised_lengths() as seen:
        try:
            Email.parse(raw)
            accepted = True
        except ValidationFailed:
            accepted = False
    assert all(length <= 4 * MAX_EMAIL_LENGTH for length in seen)
    if len(unicodedata.normalize("NFC", raw)) > MAX_EMAIL_LENGTH:
        assert not accepted
