"""What reaches `unicodedata.normalize` (whose time is quadratic in a run of combining marks)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

REAL_NORMALIZE = unicodedata.normalize


@contextmanager
def normalised_lengths() -> Iterator[list[int]]:
    """The length of every text normalised while inside, in order."""
    seen: list[int] = []

    def normalize(form: Literal["NFC", "NFD", "NFKC", "NFKD"], text: str) -> str:
        seen.append(len(text))
        return REAL_NORMALIZE(form, text)

    unicodedata.normalize = normalize
    try:
        yield seen
    finally:
        unicodedata.normalize = REAL_NORMALIZE
