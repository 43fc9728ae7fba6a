"""The Email value object: the address as given (trimmed, NFC) and its comparison key.

Two spellings are one address when their keys are equal: NFKC normalisation and Unicode case
folding (so `alice@…` in full-width letters, U+FF41…, is `alice@…`, and `straße@` is `STRASSE@`). The address as
given is what is stored, shown as `user.email`, and where mail goes (`value`); lookups, the
unique index and rate-limit keys use `key` (which is also `str(email)`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from musicez.domain.errors import FieldError, ValidationFailed

MAX_EMAIL_LENGTH = 254
MAX_KEY_BYTES = 1024  # the key column; NFKC and case folding can lengthen an address


def email_key(address: str) -> str:
    """NFKC, case fold, NFKC again (case folding can undo the normal form): Unicode's NFKC_Casefold."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())


@dataclass(frozen=True, slots=True)
class Email:
    """Equal (and hashed) by `key`; `value` is the address to show and to mail."""

    value: str = field(compare=False)
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", email_key(self.value))

    @classmethod
    def parse(cls, raw: str, field: str = "email") -> Email:
        candidate = unicodedata.normalize("NFC", raw.strip())
        if not candidate or len(candidate) > MAX_EMAIL_LENGTH:
            raise ValidationFailed(
                "The email address is not valid",
                [FieldError(field, f"must be an email address of at most {MAX_EMAIL_LENGTH} characters")],
            )
        try:
            # `test_environment` admits the reserved `.test` TLD, which staging and client test suites use.
            validate_email(candidate, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            raise ValidationFailed("The email address is not valid", [FieldError(field, str(exc))]) from None
        email = cls(candidate)
        if len(email.key.encode("utf-8")) > MAX_KEY_BYTES:
            raise ValidationFailed("The email address is not valid", [FieldError(field, "is too long")])
        return email

    @property
    def local_part(self) -> str:
        return self.value.rsplit("@", 1)[0]

    def __str__(self) -> str:
        return self.key
