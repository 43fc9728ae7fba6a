"""Everything a worker would build from the settings, built once before any worker starts, so a
bad setting is one `error:` line naming its variable instead of a crash loop of tracebacks."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from redis.connection import parse_url

from musicez.adapters.mail.smtp import SmtpTarget
from musicez.adapters.redis.client import strip_cluster_scheme
from musicez.entrypoints.key_loading import build_key_ring, server_secret
from musicez.entrypoints.settings import PREFIX, Settings, SettingsError


def _check(problems: list[str], what: str, build: Callable[[], object]) -> None:
    try:
        build()
    except SettingsError as exc:
        problems.extend(str(exc).splitlines())
    except Exception as exc:  # any other failure of a builder is still a bad setting
        problems.append(f"{what}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")


def _redis_url(url: str) -> None:
    try:
        parse_url(strip_cluster_scheme(url))  # type: ignore[no-untyped-call]
    except ValueError:  # not the parser's message: it may quote part of the password
        raise SettingsError(
            f"{PREFIX}REDIS_URL is not a valid URL (its host, port or database could not be read); "
            "percent-encode special characters of the password (e.g. '/' as %2F, '?' as %3F, '#' as %23, "
            "'@' as %40)"
        ) from None


def _smtp_url(url: str) -> None:
    try:
        SmtpTarget.parse(url)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}SMTP_URL: {exc}") from None


def port_is_free(host: str, port: int) -> bool:
    """Granian binds with SO_REUSEPORT, so a second server on a taken port would silently share it
    (and split in-process sessions between two stores). A bind without SO_REUSEPORT tells.

    With SO_REUSEADDR: the connections of a server that just stopped, left in TIME_WAIT for up to a
    minute, do not make the port look taken (granian binds it all the same), while a socket
    listening on it still does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let the probe share a listening port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def preflight(settings: Settings) -> list[str]:
    """Every problem found, one line each; empty when a worker can start."""
    problems: list[str] = []
    _check(problems, f"{PREFIX}SECRET_KEY", lambda: server_secret(settings.keys))
    _check(problems, f"{PREFIX}JWT_SIGNING_KEY", lambda: build_key_ring(settings.keys))
    if settings.redis_url:
        _check(problems, f"{PREFIX}REDIS_URL", lambda: _redis_url(settings.redis_url or ""))
    if settings.smtp_url and not settings.mail_outbox:
        _check(problems, f"{PREFIX}SMTP_URL", lambda: _smtp_url(settings.smtp_url or ""))
    if not port_is_free(settings.host, settings.port):
        problems.append(
            f"{PREFIX}PORT / --port: {settings.host}:{settings.port} is already in use "
            "(another `musicez serve`?); stop it or choose another port"
        )
    return problems
