"""One HTTP/1.1 connection to an origin: :mod:`~compute_emu.rules.http1_client` over a
NetworkStream, one exchange at a time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable

import anyio

from ..aio.transport import ProtocolStream
from ..rules import http1_client as http1
from ..rules.http1_client import ClientProtocol, LocalProtocolError, ResponseError, ResponseHead
from ..rules.http1_state import SEND_BODY
from .errors import FailureKind, UpstreamError
from .models import Origin, UpstreamRequest
from .network import NetworkStream

READ_SIZE = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024
ONE_WRITE = 64 * 1024  # an in-memory request up to this size goes out in one write

Head = ResponseHead


class HTTP11Connection:
    """A connection and the protocol state of its current request/response cycle."""

    __slots__ = (
        "_http",
        "_write_error",
        "idle_since",
        "origin",
        "response_started",
        "reused",
        "stream",
    )

    def __init__(self, stream: NetworkStream, origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        self.reused = False  # it served a request before the current one
        self.response_started = False  # response bytes arrived in the current cycle
        self.idle_since = 0.0
        self._write_error: UpstreamError | None = None
        self._http = ClientProtocol(max_head=MAX_HEAD_BYTES)

    # -- sending ---------------------------------------------------------------------------
    async def _write(self, data: bytes) -> bool:
        """Write ``data``; False (and the error kept) if the connection broke."""
        try:
            await self.stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._write_error = UpstreamError(FailureKind.TERMINATED, str(exc) or repr(exc))
            return False
        return True

    async def send_request(self, request: UpstreamRequest) -> None:
        """Write the request head and body (one write when it is small and in memory).

        If the connection breaks while writing, sending stops quietly: the origin may have
        answered early (a 413, say), and :meth:`receive_head` reads that answer or raises
        the write's error. A body iterator that fails raises ``UpstreamError(BODY)``; a body
        that does not match the head's framing ``UpstreamError(REQUEST)``.
        """
        self.response_started = False
        self._write_error = None
        http = self._http
        try:
            data = http.send_request(request.method, request.target, request.headers)
            body = request.body
            if isinstance(body, bytes):
                if len(body) <= ONE_WRITE:
                    await self._write(data + http.send_data(body) + http.send_end())
                    return
                if await self._write(data) and await self._write(http.send_data(body)):
                    await self._write(http.send_end())
                return
            if await self._write(data):
                await self._send_chunks(body)
        except LocalProtocolError as exc:
            raise UpstreamError(FailureKind.REQUEST, str(exc)) from exc

    async def _send_chunks(self, body: AsyncIterable[bytes]) -> None:
        chunks = aiter(body)
        http = self._http
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except Exception as exc:
                raise UpstreamError(
                    FailureKind.BODY, f"the request body could not be read: {exc}"
                ) from exc
            if chunk and not await self._write(http.send_data(chunk)):
                return
        await self._write(http.send_end())

    # -- receiving -------------------------------------------------------------------------
    async def _receive(self, timeout: float | None) -> bytes:
        stream = self.stream
        try:
            if timeout is None:
                return await stream.receive(READ_SIZE)
            if isinstance(stream, ProtocolStream):  # one timer, armed only if it must wait
                return await stream.receive(READ_SIZE, timeout)
            with anyio.fail_after(timeout):
                return await stream.receive(READ_SIZE)
        except TimeoutError:
            raise UpstreamError(FailureKind.RESPONSE_TIMEOUT, "backend too slow") from None
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""
        except (anyio.BrokenResourceError, OSError) as exc:
            raise UpstreamError(FailureKind.TERMINATED, str(exc) or repr(exc)) from exc

    async def _next_event(self, timeout: float | None) -> object:
        http = self._http
        while True:
            try:
                event = http.next_event()
            except ResponseError as exc:
                if exc.incomplete:
                    raise UpstreamError(
                        FailureKind.INCOMPLETE,
                        "the backend closed the connection before its response was complete",
                    ) from exc
                if exc.too_large:
                    raise UpstreamError(FailureKind.HEAD_TOO_LARGE, str(exc)) from exc
                raise UpstreamError(FailureKind.PROTOCOL, str(exc)) from exc
            if event is not http1.NEED_DATA:
                return event
            data = await self._receive(timeout)
            if data:
                self.response_started = True
            http.receive_data(data)

    async def receive_head(self, timeout: float | None) -> tuple[Head, list[tuple[str, bytes]]]:
        """The final response head, or a 101, with its headers; a 100 or 103 is skipped (the
        codec refuses any other status below 200, and above 599).

        A head whose framing is unsafe (both Content-Length and Transfer-Encoding, say)
        raises ``UpstreamError(PROTOCOL)``.
        """
        try:
            while True:
                event = await self._next_event(timeout)
                if isinstance(event, ResponseHead):
                    if event.status < 200 and event.status != 101:
                        continue
                    headers = [(n.decode("latin-1"), v) for n, v in event.headers]
                    return event, headers
                if event is http1.CONNECTION_CLOSED:
                    raise UpstreamError(
                        FailureKind.INCOMPLETE,
                        "the backend closed the connection without sending a response",
                    )
                raise UpstreamError(FailureKind.PROTOCOL, f"unexpected {event!r}")
        except UpstreamError:
            if self._write_error is not None:
                raise self._write_error from None  # no answer came: the write's error counts
            raise

    async def receive_data(self, timeout: float | None) -> bytes:
        """The next response body chunk, ``b""`` at its end."""
        if self._http.their_state is not SEND_BODY:  # complete, or switched after a 101
            return b""
        event = await self._next_event(timeout)
        if isinstance(event, bytes):
            return event
        if event is http1.END_OF_MESSAGE:
            return b""
        raise UpstreamError(FailureKind.INCOMPLETE, "the response body was cut short")

    @property
    def trailing_data(self) -> bytes:
        """Bytes received past a 101 head (they belong to the upgraded protocol)."""
        return self._http.trailing_data

    # -- reuse -----------------------------------------------------------------------------
    def start_next_cycle(self) -> bool:
        """Get ready for another request; False if the connection cannot serve one.

        It can only if both messages ended cleanly, keep-alive was agreed, and nothing is
        left unread: bytes after a complete response mean the origin sent more than it was
        asked for, and whatever they are, they must never answer another request.
        """
        if not self._http.reusable() or self.stream.is_readable():
            return False
        self._http.start_next_cycle()
        return True

    async def aclose(self) -> None:
        """Close the connection (never raises, even when cancelled)."""
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self.stream.aclose()
