"""The Email value object: trimmed, validated, compared case-insensitively."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from musicez.domain.errors import FieldError, ValidationFailed

MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class Email:
    """A normalised address: the whole address lower-cased, so equality is case-insensitive."""

    value: str

    @classmethod
    def parse(cls, raw: str, field: str = "email") -> Email:
        candidate = raw.strip()
        if not candidate or len(candidate) > MAX_EMAIL_LENGTH:
            raise ValidationFailed(
                "The email address is not valid",
                [FieldError(field, f"must be an email address of at most {MAX_EMAIL_LENGTH} characters")],
            )
        try:
            # `test_environment` admits the reserved `.test` TLD, which staging and client test suites use.
            checked = validate_email(candidate, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            raise ValidationFailed("The email address is not valid", [FieldError(field, str(exc))]) from None
        return cls(checked.normalized.lower())

    @property
    def local_part(self) -> str:
        return self.value.rsplit("@", 1)[0]

    def __str__(self) -> str:
        return self.value
