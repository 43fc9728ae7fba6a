"""The password policy of API.md: every failed rule reported at once."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.domain.email import Email
from musicez.domain.errors import WeakPassword
from musicez.domain.password_policy import (
    LONG_ENOUGH_FOR_ANY_CLASSES,
    MAX_BYTES,
    MAX_NORMALISED,
    MIN_LENGTH,
    PasswordPolicy,
    character_classes,
    fits_bcrypt,
)
from tests.support.normalising import normalised_lengths

COMMON = frozenset({"password1234", "qwertyuiop12", "jdoe"})
POLICY = PasswordPolicy(COMMON)

TOO_SHORT = "at least 12 characters"
TOO_LONG = "at most 72 bytes"
IS_COMMON = "most common passwords"
HAS_LOCAL = "local part of the email"
FEW_CLASSES = "at least 3 of"
INVISIBLE = "visible characters"
FEW_DISTINCT = "5 different characters"


def nfc(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def rules(password: str, email: str | None = None) -> list[str]:
    """Which rules failed, by a stable fragment of each message."""
    failed = POLICY.violations(password, Email.parse(email) if email else None)
    fragments = [TOO_SHORT, TOO_LONG, IS_COMMON, HAS_LOCAL, FEW_CLASSES, INVISIBLE, FEW_DISTINCT]
    found = [f for f in fragments if any(f in message for message in failed)]
    assert len(found) == len(failed), failed  # every message is one of the rules
    return found


def test_a_strong_password_passes() -> None:
    assert rules("Correct-Horse-Battery-9", "jdoe@example.com") == []
    POLICY.check("Correct-Horse-Battery-9", Email.parse("jdoe@example.com"))


def test_every_failed_rule_is_reported_at_once() -> None:
    assert rules("jdoe", "jdoe@example.com") == [TOO_SHORT, IS_COMMON, HAS_LOCAL, FEW_CLASSES, FEW_DISTINCT]


def test_check_raises_weak_password_with_one_field_error_per_rule() -> None:
    with pytest.raises(WeakPassword) as caught:
        POLICY.check("jdoe", Email.parse("jdoe@example.com"), field="new_password")
    error = caught.value
    assert error.code == "weak_password"
    assert len(error.errors) == 5
    assert {e.field for e in error.errors} == {"new_password"}
    assert error.errors[0].message in error.detail


def test_too_long_and_too_few_classes_together() -> None:
    # 18 four-byte characters: 19 characters, so the class rule applies, and 73 bytes.
    password = "a" + "\N{MUSICAL SYMBOL G CLEF}" * 18
    assert len(password) < LONG_ENOUGH_FOR_ANY_CLASSES
    assert rules(password) == [TOO_LONG, FEW_CLASSES, FEW_DISTINCT]


@pytest.mark.parametrize(
    ("password", "too_long"),
    [
        ("é" * 36, False),  # 36 characters, exactly 72 bytes
        ("é" * 36 + "a", True),  # 73 bytes
        ("a" * 72, False),
        ("a" * 73, True),
        ("€" * 24, False),  # three bytes each: 72
        ("€" * 24 + "!", True),
        ("\N{GRINNING FACE}" * 18, False),  # four bytes each: 72
        ("\N{GRINNING FACE}" * 18 + "x", True),
    ],
)
def test_the_limit_is_72_bytes_not_72_characters(password: str, too_long: bool) -> None:
    assert (TOO_LONG in rules(password)) is too_long
    assert fits_bcrypt(password) is not too_long


@pytest.mark.parametrize("password", ["password1234", "PASSWORD1234", "Password1234", "qwertyuiop12"])
def test_common_passwords_are_refused_in_any_case(password: str) -> None:
    assert IS_COMMON in rules(password)


def test_the_local_part_counts_only_from_four_characters() -> None:
    assert HAS_LOCAL not in rules("Bob-Listens-2-Jazz", "bob@example.com")
    assert HAS_LOCAL in rules("Xjdoe-Listens-2-Jazz", "jdoe@example.com")
    assert HAS_LOCAL in rules("X-JDoe-Listens-2-Jazz", "JDoe@example.com")
    assert HAS_LOCAL not in rules("X-JDoe-Listens-2-Jazz")  # no email, no rule


def test_the_local_part_is_matched_by_unicode_case_folding_not_only_lower_case() -> None:
    # "ß".lower() is "ß", its case folding is "ss": lower() alone let these through.
    assert HAS_LOCAL in rules("My-STRASSE-Listens-2", "straße@example.com")
    assert HAS_LOCAL in rules("My-Straße-Listens-2", "STRASSE@example.com")


@pytest.mark.parametrize(
    ("password", "weak"),
    [
        ("abcdefghijk1", True),  # lower + digit
        ("abcdefghijK1", False),  # lower + upper + digit
        ("abcdefghij-1", False),  # lower + symbol + digit
        ("ABCDEFGHIJ-!", True),  # upper + symbol
        ("abcdefghijklmnopqrs", True),  # 19 lower-case letters
        ("abcdefghijklmnopqrst", False),  # 20: long enough for any classes
    ],
)
def test_three_of_four_classes_unless_twenty_characters(password: str, weak: bool) -> None:
    assert (FEW_CLASSES in rules(password)) is weak


def test_character_classes() -> None:
    assert character_classes("") == 0
    assert character_classes("aB3-") == 4
    assert character_classes("ÄÖü") == 2  # non-ASCII letters are letters
    assert character_classes("   ") == 1  # a space is a symbol


# --- properties ---------------------------------------------------------------------------

passwords = st.text(max_size=90)
emails = st.sampled_from([None, "jdoe@example.com", "bob@example.com", "Listener@Example.com"])


@given(passwords, emails)
def test_length_rule_iff_shorter_than_twelve(password: str, email: str | None) -> None:
    assert (TOO_SHORT in rules(password, email)) is (len(nfc(password)) < MIN_LENGTH)


@given(passwords, emails)
def test_byte_rule_iff_more_than_72_utf8_bytes(password: str, email: str | None) -> None:
    assert (TOO_LONG in rules(password, email)) is (len(nfc(password).encode("utf-8")) > MAX_BYTES)


@given(passwords)
def test_class_rule_iff_short_and_fewer_than_three_classes(password: str) -> None:
    expected = len(nfc(password)) < LONG_ENOUGH_FOR_ANY_CLASSES and character_classes(nfc(password)) < 3
    assert (FEW_CLASSES in rules(password)) is expected


@given(passwords, emails)
def test_check_raises_exactly_when_there_are_violations(password: str, email: str | None) -> None:
    parsed = Email.parse(email) if email else None
    failed = POLICY.violations(password, parsed)
    if failed:
        with pytest.raises(WeakPassword) as caught:
            POLICY.check(password, parsed)
        assert [e.message for e in caught.value.errors] == failed
    else:
        POLICY.check(password, parsed)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=20, max_size=72).filter(lambda p: len(set(p)) >= 5))
def test_any_long_uncommon_password_without_the_local_part_passes(password: str) -> None:
    assert POLICY.violations(password) == []


@given(st.text(min_size=0, max_size=30), st.text(min_size=0, max_size=30))
def test_a_password_with_the_local_part_is_always_refused(before: str, after: str) -> None:
    assert HAS_LOCAL in rules(before + "JDoe" + after, "jdoe@example.com")


# --- v1.1: invisible passwords, too few distinct characters, NFC ---------------------------

INVISIBLE_CHARACTERS = [
    c for c in map(chr, range(0x110000)) if c.isspace() or unicodedata.category(c) in {"Zs", "Zl", "Zp", "Cc", "Cf"}
]


@pytest.mark.parametrize(
    "password",
    [
        " " * 20,
        "\x00" * 20,
        "\u200b" * 20,  # zero-width space (Cf)
        "\u3000\u00a0\u2009\t\n\r\x0b\x0c\u2028\u2029\u200b\u200d\ufeff\u2060\x01\x7f" * 2,
        "".join(INVISIBLE_CHARACTERS[:30]),
    ],
)
def test_only_invisible_characters_is_weak(password: str) -> None:
    assert INVISIBLE in rules(password)


@given(st.text(alphabet=st.sampled_from(INVISIBLE_CHARACTERS), min_size=1, max_size=40))
def test_any_invisible_only_password_is_weak(password: str) -> None:
    assert INVISIBLE in rules(password)


@given(st.text(min_size=1, max_size=40))
def test_invisible_rule_iff_nothing_visible(password: str) -> None:
    visible = any(not (c.isspace() or unicodedata.category(c) in {"Zs", "Zl", "Zp", "Cc", "Cf"}) for c in nfc(password))
    assert (INVISIBLE in rules(password)) is not visible


def test_twenty_times_one_letter_is_weak() -> None:
    assert rules("a" * 20) == [FEW_DISTINCT]
    assert rules("abcd" * 5) == [FEW_DISTINCT]
    assert rules("abcde" * 4) == []


@given(passwords)
def test_distinct_rule_iff_fewer_than_five_distinct_characters(password: str) -> None:
    assert (FEW_DISTINCT in rules(password)) is (len(set(nfc(password))) < 5)


def test_rules_apply_to_the_nfc_form() -> None:
    assert TOO_LONG not in rules("e\u0301" * 36)
    assert fits_bcrypt("e\u0301" * 36)
    assert TOO_LONG in rules("e\u0301" * 36 + "a")
    # 12 characters decomposed, 6 composed: too short
    assert TOO_SHORT in rules("A\u0301b\u0301C\u0301d\u0301E\u0301-\u0301")


@given(passwords, emails)
def test_the_verdict_is_the_same_for_every_normal_form(password: str, email: str | None) -> None:
    nfd = unicodedata.normalize("NFD", password)
    assert rules(nfd, email) == rules(nfc(password), email)


# Runs of combining marks of different classes: NFC reorders them in time quadratic in the run.
MARKS = st.text(alphabet=st.sampled_from("\u0301\u0316\u0302\u0317\u0345\u0314"), min_size=1, max_size=40)


@given(base=st.text(min_size=0, max_size=5), marks=MARKS, repeat=st.integers(8, 500))
def test_an_input_too_long_for_any_normal_form_is_never_normalised(base: str, marks: str, repeat: int) -> None:
    """A password past `MAX_NORMALISED` characters fits bcrypt in no normal form: it is refused
    for its length as it is, without the quadratic normalisation (the same verdict as with it)."""
    password = base + marks * repeat
    with normalised_lengths() as seen:
        failed = POLICY.violations(password)
        fits = fits_bcrypt(password)
    assert all(length <= MAX_NORMALISED for length in seen)
    nfc_bytes = len(unicodedata.normalize("NFC", password).encode())
    assert fits == (nfc_bytes <= MAX_BYTES)
    assert any(TOO_LONG in rule for rule in failed) == (nfc_bytes > MAX_BYTES)
