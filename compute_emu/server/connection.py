"""One client connection: HTTP/1.1 request/response cycles until it closes.

The connection turns bytes into :class:`Exchange` objects and hands each one to the request
handler. The handler reads the request body and writes the response through the exchange
(the connection's I/O, :mod:`.client_io`); the connection keeps the protocol state honest
(100-continue, HEAD, keep-alive, PAUSED, MUST_CLOSE; :mod:`compute_emu.rules.http1_server`
holds the rules), answers what it must itself (errors, ``OPTIONS *``), drains or lingers, and
bounds the number of connections (:mod:`compute_emu.rules.connection_slots`: the one waiting
longest for a head gives way; see docs/security.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import anyio

from ..aio.stream import Stream
from ..rules import http1_server as http1
from ..rules.connection_slots import ConnectionSlots
from ..rules.framing import raw_headers
from .admission import HostPolicy, check_request
from .client_io import BODY_TIMEOUT as BODY_TIMEOUT
from .client_io import DEFAULT_LIMITS, READ_SIZE, ClientIO, IdleTimeout
from .client_io import Addresses as Addresses
from .client_io import BadRequestBody as BadRequestBody
from .client_io import ClientGone as ClientGone
from .client_io import Limits as Limits
from .exchange import Exchange as Exchange
from .framing import HttpDate, error_response_headers, reason_phrase
from .slow_clients import Reporter

log = logging.getLogger("compute_emu.server")
_refusals = Reporter()  # connections refused at the limit (one warning per 10 s at most)

DRAIN_LIMIT = 1024 * 1024  # unread request body we discard to keep a connection alive
LINGER = 2.0  # seconds we keep reading (and discarding) after deciding to close
LINGER_LIMIT = 64 * 1024 * 1024

Handler = Callable[["Exchange"], Awaitable[None]]


class Connection(ClientIO):
    """Serve one client connection until it closes."""

    def __init__(
        self,
        stream: Stream,
        addresses: Addresses,
        handler: Handler,
        date: HttpDate,
        limits: Limits = DEFAULT_LIMITS,
        hosts: HostPolicy | None = None,
        slots: ConnectionSlots[Connection] | None = None,
    ) -> None:
        """``slots``: the server's connections, shared by all (none: no limit)."""
        super().__init__(stream, addresses, limits)
        self._handler = handler
        self._date = date
        self._hosts = hosts or HostPolicy()
        self._slots = slots
        self._evicted = False

    async def _send_error(self, status: int, message: str) -> None:
        http = self._http
        if http.our_state not in (http1.IDLE, http1.SEND_RESPONSE):
            return
        body = message.encode()
        headers = raw_headers(error_response_headers(len(body), self._date()))
        with contextlib.suppress(ClientGone, http1.LocalProtocolError):
            head = http.send_response(status, headers, reason_phrase(status))
            await self.send_bytes(head + http.send_data(body) + http.send_end())

    # -- the cycle -----------------------------------------------------------------------
    async def serve(self) -> None:
        """Run request/response cycles until the connection ends. Never raises."""
        if not self._admit():
            limit = self._slots.limit if self._slots else 0
            await self._send_error(
                503,
                f"Service Unavailable: all {limit} connections compute-emu holds are busy "
                "(serve --max-connections)\n",
            )
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._stream.aclose()
            return
        shutting_down = False
        try:
            async with anyio.create_task_group() as self.task_group:
                try:
                    await self._serve()
                except BadRequestBody as exc:
                    await self._send_error(exc.status, f"{exc}\n")
                except ClientGone:
                    log.debug("client %s:%d went away", *self.addresses.client)
        except anyio.get_cancelled_exc_class():
            # the server is stopping: the listener cancels this task once (an asyncio
            # cancel, not a scope's), so nothing would cut a linger short
            shutting_down = True
            raise
        except Exception:
            log.exception("connection from %s:%d failed", *self.addresses.client)
        finally:
            if self._slots is not None:
                self._slots.release(self)
            if not self._upgraded and not self._evicted:
                try:
                    if not shutting_down:
                        await self._linger()
                finally:
                    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                        await self._stream.aclose()

    def _admit(self) -> bool:
        """Take a connection slot, closing the connection that waited longest for a request
        head if the server is full; False if every connection is busy (refuse this one)."""
        if self._slots is None:
            return True
        admitted, evicted = self._slots.admit(self)
        if evicted is not None:
            evicted.evict()
        if not admitted:
            _refusals.report(
                f"{self._client()}: refused with 503: all {self._slots.limit} connections are "
                "busy (serve --max-connections)"
            )
        return admitted

    def evict(self) -> None:
        """Close this connection, which waits for a request head, to make room for another."""
        self._evicted = True
        self._stream.abort()

    async def _answer_options(self) -> None:
        headers = [
            (b"allow", b"GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),
            (b"content-length", b"0"),
            (b"date", self._date()),
        ]
        http = self._http
        await self.send_bytes(http.send_response(200, headers, b"OK") + http.send_end())

    async def _linger(self) -> None:
        """Half-close, then read (and drop) what the client still sends for a moment.

        Closing a socket with unread input makes the kernel send RST, which can destroy the
        response the client has not read yet (e.g. after refusing a large upload).
        """
        with contextlib.suppress(Exception):
            await self._stream.send_eof()
            with anyio.move_on_after(LINGER):
                received = 0
                while received < LINGER_LIMIT:
                    received += len(await self._stream.receive(READ_SIZE))

    async def _serve(self) -> None:
        slots = self._slots
        while True:
            if slots is not None:
                slots.waiting(self)
            try:
                event = await self._next_event(idle=self._limits.idle_timeout)
            except IdleTimeout:
                return  # an idle keep-alive connection: close it quietly
            except TimeoutError:
                await self._send_error(408, "Request Timeout\n")
                return
            except http1.ProtocolError as exc:
                await self._send_error(exc.status, f"Bad request: {exc}\n")
                return
            if not isinstance(event, http1.RequestHead):
                return  # the client closed between requests (or was made room for)
            if slots is not None:
                slots.busy(self)
            self._body_rate = self._send_rate = None
            self._prefetched = None
            lower = [(name.lower(), value) for name, value in event.headers]
            refusal = check_request(
                event.method, event.target, event.http_version, lower, self._hosts
            )
            if refusal is not None:
                await self._send_error(refusal.status, refusal.message)
                return
            if event.target == b"*":  # OPTIONS *: about the server, not a resource
                await self._answer_options()
                if not await self._finish_cycle():
                    return
                continue
            exchange = Exchange(self, event)
            if exchange.has_body():
                await self._prefetch_body()
            await self._handler(exchange)
            if exchange.upgraded:
                return
            if not exchange.response_started:
                # The handler failed without answering; the client still deserves one.
                await self._send_error(500, "Internal Server Error\n")
                return
            if not await self._finish_cycle():
                return

    async def _finish_cycle(self) -> bool:
        """Get ready for the next request on this connection; False means close it."""
        self._prefetched = None  # read ahead, never asked for
        http = self._http
        if not http.keep_alive or http.our_state is not http1.DONE:
            return False
        drained = 0
        while http.their_state is http1.SEND_BODY and drained <= DRAIN_LIMIT:
            if http.client_waits_for_100_continue:
                return False  # they never sent it; closing is cheaper than asking for it
            try:  # each read within header_timeout (one cheap timer, and none at all when
                # the rest is already here)
                event = await self._next_event(body_timeout=self._limits.header_timeout)
            except (TimeoutError, ClientGone, http1.ProtocolError):
                return False
            if isinstance(event, bytes):
                drained += len(event)
        if http.our_state is http1.DONE and http.their_state is http1.DONE:
            http.start_next_cycle()
            return True
        return False
