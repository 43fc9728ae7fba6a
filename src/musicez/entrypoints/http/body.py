"""Decoding request bodies: the one place where raw bytes become JSON values.

Whatever the bytes are (nested thousands of levels deep, invalid UTF-8, NUL bytes, numbers
with thousands of digits, ...), decoding either returns a JSON value or raises
`MalformedBody`, which Litestar turns into a 400 (`validation_error`) problem document.

Reading the bytes is bounded too: a body that ends before its declared length (the client went
away mid-body) is a 400 `validation_error`, and one that has not all arrived within
`BODY_READ_SECONDS` (a slow-body, "slowloris" client) a 400 `validation_error` too (API.md pairs
each code with one status, and has no code for a 408); neither is a 500 nor a wait without end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, SerializationException
from litestar.types import Empty, Receive, ReceiveMessage

_DECODER = msgspec.json.Decoder()

BODY_READ_SECONDS = 30.0
"""The longest the whole of a request body may take to arrive, from the first read of it (the
body limit is at most 1 MiB: 35 KB/s would do). Granian bounds the headers the same way (its
`http1_header_read_timeout`, 30 s by default) but not the body."""

_CLOSE = {"Connection": "close"}  # the rest of the body may still come: it is not the next request


class BodyIncomplete(ClientException):
    """The client ended the request (disconnected) before its body was all there: a 400."""

    def __init__(self) -> None:
        super().__init__(detail="The request body ended before its declared length", headers=_CLOSE)


class BodyTimedOut(ClientException):
    """The body did not all arrive in time: a 400 (`validation_error`: the body is what is wrong)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(detail=f"The request body did not arrive within {seconds:g} seconds", headers=_CLOSE)


def bounded_receive(receive: Receive, seconds: float) -> Receive:
    """`receive` for reading one body: every message by `seconds` from now, else `BodyTimedOut`;
    `http.disconnect` (the body will never be complete) raises `BodyIncomplete`."""
    deadline = asyncio.get_running_loop().time() + seconds

    async def receive_body() -> ReceiveMessage:
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimedOut(seconds) from None
        if message["type"] == "http.disconnect":
            raise BodyIncomplete
        return message

    return receive_body


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
    """Litestar's request, with the body decoded by `decode_body` and read through
    `bounded_receive` (the app's `request_class`)."""

    body_read_seconds = BODY_READ_SECONDS

    async def stream(self) -> AsyncGenerator[bytes, None]:
        if self._body is not Empty or not self.is_connected:  # nothing left to receive
            async for chunk in super().stream():
                yield chunk
            return
        # Litestar's own loop reads `self.receive` (and enforces the size limit); while it reads
        # this body, the bounded one. Litestar would answer a disconnect with a 500.
        receive = self.receive
        self.receive = bounded_receive(receive, self.body_read_seconds)
        try:
            async for chunk in super().stream():
                yield chunk
        finally:
            self.receive = receive

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                self._json = self._connection_state.json = decode_body(await self.body() or b"null")
        return self._json
