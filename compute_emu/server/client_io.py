"""One client connection's HTTP/1.1 I/O: the protocol state over the stream, every read and
write within the connection's limits.

:class:`ClientIO` is what an :class:`~.exchange.Exchange` reads its request body from and
writes its response to, and how it hands the socket over (a splice after a relayed ``101``,
a held response); :class:`~.connection.Connection` runs the request/response cycles on it.
Bounded here (see docs/security.md): a request head's time (slow-loris), an idle connection's,
a stalled body's, and a body or a response that moves slower than the minimum data rate
(:mod:`compute_emu.rules.data_rate`: 408 or reset). The start of a request body is read before
the handler runs ``main()`` on a thread, so a client that drips its body never holds an app
thread.
"""

from __future__ import annotations

import collections
import contextlib
from dataclasses import dataclass, field

import anyio
import anyio.abc

from ..aio.stream import Stream
from ..rules import http1_server as http1
from ..rules.data_rate import DataRate, MinDataRate
from ..rules.framing import raw_headers
from .framing import reason_phrase
from .slow_clients import TooSlow, send_within_rate, slow_clients

_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)

READ_SIZE = 64 * 1024
HEADER_TIMEOUT = 10.0  # a request head must arrive within this once started (slowloris)
IDLE_TIMEOUT = 75.0  # keep-alive: close an idle connection after this
BODY_TIMEOUT = 30.0  # a request body that stalls this long is given up (408, closed)
PREFETCH_LIMIT = 64 * 1024  # most request body read before main() gets a thread (_prefetch_body)


class ClientGone(Exception):
    """The client closed or broke the connection."""


class BadRequestBody(ClientGone):
    """The request body is malformed (bad chunked framing) or stalled past the timeout.

    The client is still there: it gets ``status`` (400 or 408) if no response started.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Addresses:
    """Both ends of a client connection as (host, port)."""

    client: tuple[str, int]
    server: tuple[str, int]


class IdleTimeout(Exception):
    """No new request arrived on a kept-alive connection in time."""


class _TooSlow(TimeoutError):
    """A wait ran out the minimum data rate's allowance (not the stall timeout)."""


@dataclass(frozen=True)
class Limits:
    """What one connection may take of the server (see docs/security.md): timeouts in
    seconds, and the minimum data rate of request bodies and of response writes."""

    header_timeout: float = HEADER_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    min_rate: MinDataRate = field(default_factory=MinDataRate)


DEFAULT_LIMITS = Limits()


class ClientIO:
    """The protocol state of one client connection over its stream (see the module
    docstring)."""

    def __init__(self, stream: Stream, addresses: Addresses, limits: Limits) -> None:
        self._stream = stream
        self.addresses = addresses
        self._limits = limits
        self._http = http1.ServerProtocol()  # heads up to http1.MAX_HEAD (64 KiB)
        self._upgraded = False  # the socket was handed over: no more HTTP on it
        # per request: the body's and the response's data rates (None until they wait), and
        # the body read ahead of the handler (None when there is none: a held stream keeps
        # its connection for hours)
        self._body_rate: DataRate | None = None
        self._send_rate: DataRate | None = None
        self._prefetched: collections.deque[bytes] | None = None
        self.task_group: anyio.abc.TaskGroup  # set while serving

    # -- reading -------------------------------------------------------------------------
    async def _next_event(
        self,
        idle: float | None = None,
        body_timeout: float | None = None,
        rate: DataRate | None = None,
    ) -> http1.RequestHead | bytes | object:
        """The next protocol event (see ``ServerProtocol.next_event``), reading as needed.

        With ``idle`` (waiting for a request head): nothing may arrive for ``idle`` seconds
        (``IdleTimeout``), and once the first bytes are in, the whole head is due within
        ``HEADER_TIMEOUT`` (``TimeoutError``; slow-loris clients cannot hold a connection).
        With ``body_timeout`` (reading a body): TimeoutError when a read waits that long; with
        ``rate`` too, ``_TooSlow`` when the waits run out the minimum rate's allowance.
        """
        deadline: float | None = None
        while True:
            event = self._http.next_event()
            if event is not http1.NEED_DATA:
                return event
            by_rate = False
            if idle is None:
                timeout = body_timeout
                allowance = None if rate is None else rate.wait_limit()
                if allowance is not None and (timeout is None or allowance < timeout):
                    timeout, by_rate = allowance, True
            elif deadline is None:
                timeout = idle
            else:
                timeout = max(deadline - anyio.current_time(), 0)
            started = 0.0 if rate is None else anyio.current_time()
            try:
                data = await self._stream.receive(READ_SIZE, timeout)
            except TimeoutError:
                if rate is not None:
                    rate.record(0, anyio.current_time() - started)
                if idle is not None and deadline is None:
                    raise IdleTimeout() from None
                if by_rate:
                    raise _TooSlow() from None
                raise
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                data = b""
            except (anyio.BrokenResourceError, OSError) as exc:
                raise ClientGone from exc
            if rate is not None:
                rate.record(len(data), anyio.current_time() - started)
            self._http.receive_data(data)
            if idle is not None and data and deadline is None:
                deadline = anyio.current_time() + self._limits.header_timeout

    async def receive_body_chunk(self) -> bytes:
        """Next request body chunk for the current exchange (``b""`` at the end)."""
        if (prefetched := self._prefetched) is not None:
            chunk = prefetched.popleft()
            if not prefetched:
                self._prefetched = None
            return chunk
        if self._http.their_state is not http1.SEND_BODY:
            return b""
        if self._http.client_waits_for_100_continue:
            await self.send_bytes(self._http.send_informational(100, []))
        if self._body_rate is None and self._limits.min_rate.enabled:
            self._body_rate = DataRate(self._limits.min_rate)
        try:
            event = await self._next_event(
                body_timeout=self._limits.body_timeout, rate=self._body_rate
            )
        except _TooSlow:
            assert self._body_rate is not None
            raise self._too_slow(self._body_rate) from None
        except TimeoutError:
            raise BadRequestBody(
                408, f"the request body stalled for {self._limits.body_timeout:g} s"
            ) from None
        except http1.ProtocolError as exc:
            if self._http.peer_eof:
                raise ClientGone("the client left before its body was complete") from None
            raise BadRequestBody(400, f"malformed request body: {exc}") from None
        if isinstance(event, bytes):
            return event
        if event is http1.END_OF_MESSAGE:
            return b""
        raise ClientGone(f"request body ended early ({event!r})")

    async def _prefetch_body(self) -> None:
        """Read the start of the request body before the handler runs ``main()`` on a thread:
        until it is complete, or the client has sent what the grace period asks of it (the
        minimum rate times the grace period: 1,200 bytes by default, at most
        ``PREFETCH_LIMIT``). A client that drips its body is answered 408 here, by the rate,
        without ever holding an app thread; a well-behaved body is that far within
        milliseconds, and from there ``main()`` reads it as it comes (the rate still applies).
        Not done for ``Expect: 100-continue`` (the app decides whether it wants the body) or
        without a minimum rate."""
        minimum = self._limits.min_rate
        if self._http.client_waits_for_100_continue or not minimum.enabled:
            return
        enough = min(PREFETCH_LIMIT, minimum.bytes_per_second * minimum.grace)
        chunks: collections.deque[bytes] = collections.deque()
        total = 0
        try:
            while total < enough:
                chunk = await self.receive_body_chunk()  # 408 once below the minimum rate
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        finally:
            if chunks:
                self._prefetched = chunks

    def _too_slow(self, rate: DataRate) -> BadRequestBody:
        """The 408 for a request body slower than the minimum rate (reported in the log)."""
        message = f"the request body arrived at {rate.describe()}"
        slow_clients.report(f"{self._client()}: {message}: answered 408 (serve --min-body-rate)")
        return BadRequestBody(408, message)

    def _client(self) -> str:
        return "{}:{}".format(*self.addresses.client)

    # -- writing -------------------------------------------------------------------------
    @property
    def http(self) -> http1.ServerProtocol:
        """The protocol state, for the exchange that frames its response through it."""
        return self._http

    async def send_bytes(self, data: bytes) -> None:
        """Write bytes the protocol state framed (``ClientGone`` if the client left, or takes
        them slower than the minimum data rate: then the connection is reset)."""
        if not data:
            return
        try:
            if self._limits.min_rate.enabled and self._stream.send_may_wait(len(data)):
                if self._send_rate is None:
                    self._send_rate = DataRate(self._limits.min_rate)
                await send_within_rate(self._stream, data, self._send_rate)
            else:
                await self._stream.send(data)
        except TooSlow as exc:
            slow_clients.report(f"{self._client()}: {exc}: connection reset")
            self._http.send_failed()
            self._stream.reset()
            raise ClientGone(str(exc)) from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._http.send_failed()
            raise ClientGone from exc

    def client_waits_for_100_continue(self) -> bool:
        """True while the client holds its body back until it gets a ``100 Continue``."""
        return self._http.client_waits_for_100_continue

    def peer_closed(self) -> bool:
        """True if the client closed or reset the connection (reads nothing).

        A half-close counts as leaving: HTTP/1.1 clients do not half-close while they wait.
        """
        return self._stream.at_eof

    async def switch_protocols(self, headers: list[tuple[str, bytes]]) -> tuple[Stream, bytes]:
        while self._http.their_state is http1.SEND_BODY:  # an upgrade request's (empty) body
            await self.receive_body_chunk()
        await self.send_bytes(self._http.send_informational(101, raw_headers(headers)))
        self._upgraded = True
        return self._stream, self._http.trailing_data

    async def give_away(
        self, status: int, headers: list[tuple[str, bytes]]
    ) -> tuple[Stream, bytes]:
        """Write a chunked response head, then stop speaking HTTP on this connection."""
        while self._http.their_state is http1.SEND_BODY:  # a GET's EndOfMessage
            if not await self.receive_body_chunk():
                break
        raw = [
            *raw_headers(headers),
            (b"transfer-encoding", b"chunked"),
            (b"connection", b"close"),
        ]
        await self.send_bytes(self._http.send_response(status, raw, reason_phrase(status)))
        self._upgraded = True
        return self._stream, self._http.trailing_data

    async def wait_closed(self) -> None:
        """Return when the client closes its side (reading the rest of its request first).

        Bytes that arrive meanwhile (a pipelined request) are kept for the next cycle, and
        watching stops: the client is clearly still there.
        """
        while self._http.their_state is http1.SEND_BODY:  # e.g. a GET's EndOfMessage
            if not await self.receive_body_chunk():
                break
        if self._http.their_state is http1.MUST_CLOSE or not self._http.keep_alive:
            # Connection: close or HTTP/1.0: nothing more may come but the close itself;
            # anything else is dropped (it would not be served).
            with contextlib.suppress(*_GONE):
                while await self._stream.receive(READ_SIZE):
                    pass
            return
        if self._http.their_state is not http1.DONE:
            await anyio.sleep_forever()
        try:
            data = await self._stream.receive(READ_SIZE)
        except _GONE:
            return
        self._http.receive_data(data)
        await anyio.sleep_forever()
