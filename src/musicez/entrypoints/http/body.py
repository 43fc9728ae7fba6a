"""Decoding request bodies: the one place where raw bytes become JSON values.

Whatever the bytes are (nested thousands of levels deep, invalid UTF-8, NUL bytes, numbers
with thousands of digits, ...), decoding either returns a JSON value or raises
`MalformedBody`, which Litestar turns into a 400 (`validation_error`) problem document.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException
from litestar.types import Empty

_DECODER = msgspec.json.Decoder()


class MalformedBody(SerializationException):
    """The body is not one well-formed JSON document."""


def decode_body(raw: bytes) -> Any:
    """The JSON value of `raw`, or `MalformedBody` with a detail that never echoes the input."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as error:
        raise MalformedBody(str(error)[:200]) from None
    except RecursionError:
        raise MalformedBody("JSON is malformed: nested too deeply") from None
    except UnicodeError:
        raise MalformedBody("JSON is malformed: the body is not valid UTF-8") from None
    except (ValueError, OverflowError, MemoryError):
        raise MalformedBody("JSON is malformed") from None


class JsonBodyRequest(Request[Any, Any, Any]):
    """Litestar's request, with the body decoded by `decode_body` (the app's `request_class`)."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                self._json = self._connection_state.json = decode_body(await self.body() or b"null")
        return self._json
