"""Logging: JSON lines in production, readable lines in development, request ids on each."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import msgspec
import structlog

from musicez.entrypoints.settings import Settings

OWN_LOGGER = "musicez"
# The level every other library logs at, at the least: their debug lines are not ours to vouch
# for (aiosqlite's print each statement with its parameters: password hashes, token MACs).
THIRD_PARTY_FLOOR = logging.INFO


def third_party_level(settings: Settings) -> int:
    """`MUSICEZ_LOG_LEVEL`, but never below INFO: only the service's own loggers (`musicez.*`)
    go down to DEBUG. INFO and not WARNING, so that DEBUG only adds lines to what INFO shows
    (granian's start-up, alembic's migrations), and a library's INFO line is one its authors
    meant for a production log."""
    return max(logging.getLevelNamesMapping()[settings.log_level], THIRD_PARTY_FLOOR)


def configure_logging(settings: Settings) -> None:
    json_lines = settings.log_format == "json" or (settings.log_format == "auto" and settings.is_production)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if json_lines
        # Plain tracebacks: the default (rich) formatter prints every frame's local variables,
        # which would put request bodies (passwords) and headers (tokens) in the log.
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_lines else _identity,
            renderer,
        ],
    )
    # No record field we render needs the caller's frame, thread or process (the logging HOWTO's
    # "Optimization" switches): each security event line costs ~6 µs less (a refresh logs one).
    logging._srcfile = None  # noqa: SLF001 - the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(third_party_level(settings))
    logging.getLogger(OWN_LOGGER).setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "granian", "granian.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def log_safe(text: str, limit: int) -> str:
    r"""At most `limit` characters of client-controlled `text` (a request path or method), each one
    that is not printable (a line break, an escape sequence's ESC, a bidi control, ...) written as
    its escape, so a log line stays one harmless line in the console format too (JSON escapes them
    anyway). ASGI paths arrive percent-decoded: `/x%0Ay` is a real line break by now. A backslash
    is escaped too (`\\`), so a path that holds the two characters `\n` (`%5Cn`) cannot pass
    for an escaped line break: every escape in the result stands for exactly one character."""
    text = text[:limit]
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text)


def _unknown(value: Any) -> Any:
    """What a log line says of a value (or a dict key) JSON has no type for: its `__structlog__()`
    if it has one, else its repr (structlog's own fallback)."""
    method = getattr(value, "__structlog__", None)
    return method() if callable(method) else repr(value)


_LINE_ENCODER = msgspec.json.Encoder(enc_hook=_unknown)


def json_line(event: structlog.types.EventDict, **_: Any) -> str:
    """A record as one compact JSON line, ASCII only (as `json.dumps` writes it by default): a
    client-chosen value cannot put a line separator (U+2028), a bidi control or any other
    non-ASCII character, nor DEL, raw into the log. msgspec writes the line in a quarter of the stdlib's
    time (every security event, a refresh's included, is a line); the rare line with non-ASCII
    text is decoded and written again with the stdlib, which escapes it."""
    line = _LINE_ENCODER.encode(event)
    if not line.isascii():
        line = json.dumps(msgspec.json.decode(line), separators=(",", ":")).encode("ascii")
    if b"\x7f" in line:  # DEL, the one ASCII control character JSON may leave raw (in a string)
        line = line.replace(b"\x7f", b"\\u007f")
    return line.decode("ascii")


def _identity(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    return event
