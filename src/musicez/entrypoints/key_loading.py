"""The signing keys and the server secret, read from the settings (or, in development, from files
generated beside the data): a problem is a `SettingsError` naming the variable."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

from musicez.adapters.security.keys import (
    KeyRing,
    asymmetric_ring,
    generate_private_pem,
    read_or_create_secret_file,
    shared_secret_ring,
)
from musicez.entrypoints.settings import SettingsError
from musicez.entrypoints.settings_groups import KeySettings

log = logging.getLogger("musicez")

MIN_SECRET_KEY_LENGTH = 32


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read the {what} file {path}: {exc.strerror}") from None


def build_key_ring(keys: KeySettings) -> KeyRing:
    algorithm = keys.algorithm
    key = keys.signing_key
    if key is None and keys.signing_key_file:
        key = _read(keys.signing_key_file, "JWT signing key")
    retired = _read(keys.verification_keys_file, "JWT verification keys") if keys.verification_keys_file else ""
    try:
        if algorithm == "HS256":
            if key is None:
                key = read_or_create_secret_file(keys.data_path / "jwt-hs256.secret", lambda: secrets.token_urlsafe(48))
                log.warning("Using a generated HS256 secret from %s (development only)", keys.data_path)
            return shared_secret_ring(key.strip(), [line.strip() for line in retired.splitlines() if line.strip()])
        if key is None:
            path = keys.data_path / f"jwt-{algorithm.lower()}-signing-key.pem"
            key = read_or_create_secret_file(path, lambda: generate_private_pem(algorithm))
            log.warning("Using a generated %s signing key from %s (development only)", algorithm, path)
        return asymmetric_ring(key, algorithm, retired)
    except ValueError as exc:
        raise SettingsError(f"MUSICEZ_JWT_*: {exc}") from None


def server_secret(keys: KeySettings) -> bytes:
    if keys.secret_key:
        raw = keys.secret_key.encode()
    else:
        path = keys.data_path / "secret-key"
        raw = read_or_create_secret_file(path, lambda: base64.b64encode(secrets.token_bytes(48)).decode()).encode()
    if len(raw) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError("MUSICEZ_SECRET_KEY must be at least 32 characters of random data")
    return raw
