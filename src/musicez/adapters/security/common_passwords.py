"""The shipped list of common passwords (see data/NOTICE)."""

from __future__ import annotations

import gzip
from importlib.resources import files


def load_common_passwords() -> frozenset[str]:
    raw = files("musicez.adapters.security").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip().lower() for line in gzip.decompress(raw).decode("utf-8").splitlines() if line.strip())
