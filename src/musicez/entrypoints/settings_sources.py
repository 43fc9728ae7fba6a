"""Where settings come from besides `MUSICEZ_*` variables, and how a database URL names its driver:
the decoding helpers of `Settings.from_env` and `Settings.effective_database_url`."""

from __future__ import annotations

from pathlib import Path

from musicez.entrypoints.settings_checks import PREFIX, SettingsError

ASYNC_DRIVERS = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


# Secrets that may also come from a file (Docker/Kubernetes secrets): MUSICEZ_<NAME>_FILE holds
# the path; the file's content (without the final newline) is the value. The JWT keys have
# their own *_FILE fields, which also take PEM files with several keys.
FILE_SECRETS = ("secret_key", "database_url", "redis_url", "smtp_url", "metrics_token")
# Settings named by the library that reads them, not MUSICEZ_*: field -> variable.
FOREIGN = {"prometheus_multiproc_dir": "PROMETHEUS_MULTIPROC_DIR"}


def read_secret_file(name: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text().rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from None
