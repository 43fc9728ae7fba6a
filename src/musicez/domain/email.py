"""The Email value object: the address as given (trimmed, NFC) and its comparison key.

Two spellings are one address when their keys are equal: NFKC normalisation and Unicode case
folding (so `alice@…` in full-width letters, U+FF41…, is `alice@…`, and `straße@` is `STRASSE@`). The address as
given is what is stored, shown as `user.email`, and where mail goes (`value`); lookups, the
unique index and rate-limit keys use `key` (which is also `str(email)`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import email_validator
from email_validator import EmailNotValidError, validate_email

from musicez.domain.errors import FieldError, ValidationFailed

MAX_EMAIL_LENGTH = 254
MAX_KEY_BYTES = 1024  # the key column; NFKC and case folding can lengthen an address

# Special-use names that mail cannot go to (RFC 6761 and the like: `.local`, `.onion`, …), refused
# as the validator refuses them; `.test` is admitted for staging and client test suites.
REFUSED_DOMAINS = tuple(name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name != "test")


def _any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)


# What the OpenAPI document states of every email field, beside `format: email` (API.md: a request
# the document calls valid is never a 400): an address that every rule of the validator admits. An
# ECMA-262 pattern that Python's `re` reads alike: no inline flags (case by classes), no `\p{…}`.
# - The local part: a dot-atom of RFC 5322's atext and, beyond ASCII, letters and digits of the
#   common scripts (Latin, Greek, Cyrillic, kana, CJK, Hangul, full-width forms): no control,
#   format or space character, none that NFC would change; no quoted local part.
# - The domain: dotted LDH labels (letters, digits, inner hyphens, 1 to 63 characters, none with
#   `--` in its third and fourth places, as IDNA asks), the last ending in a letter; no IP
#   literal and no special-use name. An internationalized domain is accepted in its ASCII form.
# - The length in UTF-8 bytes, 254 at most: an address with a non-ASCII local part has at most
#   21 characters before the `@` (3 bytes each at most) and 190 after it.
_NON_ASCII = (
    r"\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u0391-\u03a1\u03a3-\u03c9\u0410-\u044f"
    r"\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fa5\uac00-\ud7a3\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~" + _NON_ASCII + r"-]+"
_NOT_DOUBLE_HYPHEN = r"(?![A-Za-z0-9]{2}--)"
_LABEL = _NOT_DOUBLE_HYPHEN + r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = _NOT_DOUBLE_HYPHEN + r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
_LENGTH = r"(?:(?=[\x21-\x7e]+$)|(?=[^@]{1,21}@[\x21-\x7e]{1,190}$))"
DOCUMENTED_PATTERN = (
    rf"^{_LENGTH}{_ATOM}(?:\.{_ATOM})*@"
    rf"(?![^@]*\.(?:{'|'.join(_any_case(name) for name in REFUSED_DOMAINS)})\.?$)"
    rf"(?:{_LABEL}\.)+{_TLD}$"
)


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
        candidate = raw.strip()
        # Measured before it is normalised too: NFC takes time quadratic in a run of combining
        # marks (16 KB of them: 0.2 to 0.4 s), and composes at most four code points into one
        # (Unicode's longest canonical decomposition), so no longer input can fit.
        if len(candidate) <= 4 * MAX_EMAIL_LENGTH:
            candidate = unicodedata.normalize("NFC", candidate)
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
