"""One request on a client connection, as the request handler sees it.

An :class:`Exchange` carries the request head and the means to answer it: read the body,
send a response, switch protocols after a relayed ``101``, or give the connection up to a
relay. The :class:`~.client_io.ClientIO` of its connection keeps the protocol state honest.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

from ..rules.framing import raw_headers
from ..rules.http1_server import RequestHead
from .client_io import ClientIO
from .framing import reason_phrase


class Exchange:
    """One request on a connection, and the means to answer it."""

    def __init__(self, conn: ClientIO, request: RequestHead) -> None:
        self._conn = conn
        self.method: str = request.method.decode("ascii")
        self.target: str = request.target.decode("ascii", errors="replace")
        self.http_version: str = request.http_version.decode("ascii")
        self.headers: list[tuple[str, bytes]] = [
            (name.decode("latin-1"), value) for name, value in request.headers
        ]
        self.framing = request.framing  # how the body is delimited, as the parser decided
        self.addresses = conn.addresses
        self.response_status: int | None = None
        self.response_bytes = 0
        self.upgraded = False
        self._body_done = False

    # -- request body --------------------------------------------------------------------
    def declared_length(self) -> int | None:
        """The request body's length, if its framing declared one (a Content-Length)."""
        framing = self.framing
        return framing.length if framing.kind == "length" else None

    def has_body(self) -> bool:
        """Whether a request body is still to be read (a length > 0, or chunked)."""
        framing = self.framing
        return not self._body_done and (framing.kind == "chunked" or framing.length > 0)

    async def receive_body(self) -> bytes:
        """The next chunk of the request body, ``b""`` at its end."""
        if self._body_done:
            return b""
        chunk = await self._conn.receive_body_chunk()
        if not chunk:
            self._body_done = True
        return chunk

    # -- response ------------------------------------------------------------------------
    @property
    def response_started(self) -> bool:
        """True once a response head went out."""
        return self.response_status is not None

    async def send_response(
        self,
        status: int,
        headers: list[tuple[str, bytes]],
        body: bytes | AsyncIterable[bytes] = b"",
    ) -> None:
        """Write a complete response. ``headers`` must already carry the framing we want."""
        self.response_status = status
        raw = raw_headers(headers)
        if self._conn.client_waits_for_100_continue():
            # The body was never asked for: say that the connection closes after this
            # response, rather than keep the client waiting to send it or drain it ourselves.
            raw.append((b"connection", b"close"))
        http = self._conn.http
        head = http.send_response(status, raw, reason_phrase(status))
        skip_body = self.method == "HEAD" or status in (204, 304)
        if isinstance(body, bytes | bytearray):
            # small in-memory responses go out in one write
            if body and not skip_body:
                head += http.send_data(bytes(body))
                self.response_bytes += len(body)
            await self._conn.send_bytes(head + http.send_end())
            return
        await self._conn.send_bytes(head)
        async for chunk in body:
            if chunk and not skip_body:
                self.response_bytes += len(chunk)
                await self._conn.send_bytes(http.send_data(chunk))
        await self._conn.send_bytes(http.send_end())

    async def wait_client_closed(self) -> None:
        """Return when the client hangs up (used while relaying a long-held response)."""
        await self._conn.wait_closed()

    def client_left(self) -> bool:
        """True if the client has closed or reset its connection (checked without reading)."""
        return self._conn.peer_closed()

    def start_soon(self, func: Callable[..., Coroutine[Any, Any, object]], *args: object) -> None:
        """Run ``func(*args)`` in the connection's task group (it must not raise)."""
        self._conn.task_group.start_soon(func, *args)

    async def switch_protocols(
        self, headers: list[tuple[str, bytes]]
    ) -> tuple[anyio.abc.ByteStream, bytes]:
        """Send ``101`` and give up the connection: returns the raw stream and any bytes the
        client already sent past the upgrade request."""
        self.response_status = 101
        self.upgraded = True
        return await self._conn.switch_protocols(headers)

    async def start_relayed_body(
        self, status: int, headers: list[tuple[str, bytes]]
    ) -> tuple[anyio.abc.ByteStream, bytes] | None:
        """Send a chunked response head and give up the connection, so that a relay can copy
        an upstream's chunked body to the socket as it is (no parsing, no re-framing).

        Returns the raw stream and bytes the client sent past its request, or None when the
        body cannot be relayed raw (an HTTP/1.0 client cannot take chunked; a HEAD has no
        body): then answer through :meth:`send_response`. The connection is not kept alive
        after a relayed body (``Connection: close`` is said in the head).
        """
        if self.http_version != "1.1" or self.method == "HEAD" or status in (204, 304):
            return None
        self.response_status = status
        self.upgraded = True
        return await self._conn.give_away(status, headers)
