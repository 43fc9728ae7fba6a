"""The password policy of API.md: every failed rule is reported, none is silently fixed."""

from __future__ import annotations

import unicodedata
from collections.abc import Container
from dataclasses import dataclass

from musicez.domain.email import Email
from musicez.domain.errors import FieldError, WeakPassword

MIN_LENGTH = 12
MAX_BYTES = 72  # bcrypt's input limit: longer input is rejected, never truncated
LONG_ENOUGH_FOR_ANY_CLASSES = 20
MIN_CLASSES = 3
MIN_LOCAL_PART_TO_CHECK = 4
MIN_DISTINCT = 5
# Characters that show nothing: whitespace, control and format characters (Zs, Zl, Zp, Cc, Cf).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


# Past this many characters no normal form fits MAX_BYTES (NFC composes at most four code
# points into one, Unicode's longest canonical decomposition, of at least one byte), so a longer
# input is refused as it is: normalising costs time quadratic in a run of combining marks
# (16 KB of them: 0.2 to 0.4 s of the event loop).
MAX_NORMALISED = 4 * MAX_BYTES


def normalise_password(password: str) -> str:
    """NFC: the same password typed on any keyboard is the same bytes, before every rule,
    before hashing and before verifying (API.md, Hardening v1.1). An input too long to fit
    bcrypt in any form is left as it is (`MAX_NORMALISED`): it fails the byte rule either way."""
    if len(password) > MAX_NORMALISED:
        return password
    return unicodedata.normalize("NFC", password)


def is_invisible(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) in _INVISIBLE_CATEGORIES


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    common_passwords: Container[str]

    def violations(self, password: str, email: Email | None = None) -> list[str]:
        password = normalise_password(password)
        failed: list[str] = []
        if len(password) < MIN_LENGTH:
            failed.append(f"must be at least {MIN_LENGTH} characters long")
        if len(password.encode("utf-8")) > MAX_BYTES:
            failed.append(f"must be at most {MAX_BYTES} bytes in UTF-8 (bcrypt's limit)")
        if password.lower() in self.common_passwords or password in self.common_passwords:
            failed.append("is one of the most common passwords")
        if email is not None:
            # Case-insensitive as Unicode defines it (casefold: "Straße" contains "STRASSE").
            local = email.local_part.casefold()
            if len(email.local_part) >= MIN_LOCAL_PART_TO_CHECK and local in password.casefold():
                failed.append("must not contain the local part of the email address")
        if len(password) < LONG_ENOUGH_FOR_ANY_CLASSES and character_classes(password) < MIN_CLASSES:
            failed.append(
                f"must use at least {MIN_CLASSES} of: lower-case, upper-case, digits, symbols "
                f"(or be at least {LONG_ENOUGH_FOR_ANY_CLASSES} characters long)"
            )
        if all(is_invisible(c) for c in password):
            failed.append("must contain visible characters, not only spaces, control or format characters")
        if len(set(password)) < MIN_DISTINCT:
            failed.append(f"must contain at least {MIN_DISTINCT} different characters")
        return failed

    def check(self, password: str, email: Email | None = None, field: str = "password") -> None:
        failed = self.violations(password, email)
        if failed:
            raise WeakPassword(
                "The password does not meet the password policy: " + "; ".join(failed),
                [FieldError(field, message) for message in failed],
            )


def character_classes(password: str) -> int:
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    symbol = any(not c.isalnum() for c in password)
    return lower + upper + digit + symbol


def fits_bcrypt(password: str) -> bool:
    return len(normalise_password(password).encode("utf-8")) <= MAX_BYTES
