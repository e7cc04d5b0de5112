"""The one HTTP/1.1 client for everything that leaves compute-emu (backends, Pushpin).

``await client.request(origin, request)`` connects (or reuses a pooled connection), sends the
request, waits for the response head and returns an :class:`UpstreamResponse` whose body is
read on demand. Every failure is an :class:`UpstreamError`; the caller maps its ``kind``.
Nothing here knows about the SDK or the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol, TypeVar

from .connection import Head, HTTP11Connection
from .errors import STALE, FailureKind, UpstreamError
from .models import Origin, UpstreamRequest
from .network import NetworkBackend, NetworkStream, SocketNetwork
from .pool import MAX_IDLE, MAX_IDLE_PER_ORIGIN, ConnectionPool
from .tls import make_ssl_context

__all__ = [
    "FailureKind",
    "HeadWaiter",
    "Origin",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamRequest",
    "UpstreamResponse",
    "make_ssl_context",
]

T = TypeVar("T")


class HeadWaiter(Protocol):
    """Waits for a response head: ``await waiter(receive_head)``. ``receive_head`` may be
    cancelled and called again (nothing is lost), so a waiter can give it a short time and
    then go on waiting under other conditions (while watching the client, say)."""

    def __call__(self, receive_head: Callable[[], Awaitable[T]], /) -> Awaitable[T]: ...


class UpstreamClient:
    """Sends requests to origins over pooled keep-alive HTTP/1.1 connections.

    A request that fails on a reused connection before any response byte arrived (the
    origin closed the idle connection meanwhile) is sent once more on a new connection, if
    its body is in memory. On any failure or cancellation before the head is in, the
    connection is closed, never kept.
    """

    def __init__(
        self,
        network: NetworkBackend | None = None,
        *,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        max_idle: int = MAX_IDLE,
    ) -> None:
        self.pool = ConnectionPool(
            network or SocketNetwork(),
            max_idle_per_origin=max_idle_per_origin,
            max_idle=max_idle,
        )

    async def request(
        self, origin: Origin, request: UpstreamRequest, *, wait_head: HeadWaiter | None = None
    ) -> UpstreamResponse:
        """Send ``request`` to ``origin`` and return once the response head is in.

        A 1xx other than 101 is skipped. Raises UpstreamError; a request body iterator that
        fails surfaces as ``UpstreamError(BODY)`` with the original as ``__cause__``.
        """
        conn = await self.pool.acquire(origin)
        while True:
            try:
                await conn.send_request(request)
                if wait_head is None:
                    head, headers = await conn.receive_head(request.head_timeout)
                else:
                    head, headers = await wait_head(
                        partial(conn.receive_head, request.head_timeout)
                    )
            except UpstreamError as exc:
                await conn.aclose()
                if (
                    conn.reused
                    and not conn.response_started
                    and exc.kind in STALE
                    and isinstance(request.body, bytes)
                ):
                    conn = await self.pool.connect(origin)  # once: a new one is not reused
                    continue
                raise
            except BaseException:
                await conn.aclose()
                raise
            return UpstreamResponse(self.pool, conn, head, headers)

    async def unreachable(self, origin: Origin) -> UpstreamError | None:
        """Why a new connection to ``origin`` cannot be made, or None if one can (it is
        closed at once; nothing is sent): a probe, to explain a failure seen elsewhere."""
        try:
            conn = await self.pool.connect(origin)
        except UpstreamError as exc:
            return exc
        await conn.aclose()
        return None

    async def aclose(self) -> None:
        """Close every idle connection (connections in use close when released)."""
        await self.pool.aclose()


class UpstreamResponse:
    """A response whose head has arrived and whose body is still on the wire.

    Read the body with :meth:`receive`; at its end the connection goes back to the pool.
    :meth:`aclose` drops a response not read to its end (closing its connection). After a
    ``101``, :meth:`upgrade` hands the raw stream over (:meth:`detach` does for any response).
    """

    __slots__ = (
        "_conn",
        "_pool",
        "_receiving",
        "headers",
        "http_version",
        "origin",
        "reason",
        "reused",
        "status",
    )

    def __init__(
        self,
        pool: ConnectionPool,
        conn: HTTP11Connection,
        head: Head,
        headers: list[tuple[str, bytes]],
    ) -> None:
        self._pool = pool
        self._conn: HTTP11Connection | None = conn
        self._receiving = False
        self.origin = conn.origin
        self.reused = conn.reused  # whether the request went out on a pooled connection
        self.status: int = head.status
        self.reason: bytes = bytes(head.reason)
        self.http_version: str = head.http_version.decode("ascii")
        self.headers = headers

    @property
    def complete(self) -> bool:
        """True once the body was read to its end (or the response was closed)."""
        return self._conn is None

    async def receive(self, timeout: float | None = None) -> bytes:
        """The next body chunk, ``b""`` at the end; ``timeout`` bounds the wait for it.

        On any error (UpstreamError) or cancellation the connection is closed.
        """
        conn = self._conn
        if conn is None:
            return b""
        self._receiving = True
        try:
            chunk = await conn.receive_data(timeout)
        except BaseException:
            self._conn = None
            await conn.aclose()
            raise
        if not chunk:
            self._conn = None
            await self._pool.release(conn)
        return chunk

    def detach(self) -> tuple[NetworkStream, bytes]:
        """Take the connection over, before the first :meth:`receive`: the raw stream and the
        bytes already received past the head (after a 101 they belong to the new protocol;
        otherwise they are the start of the body, still in its wire framing). The caller
        owns the stream from now on and must close it; it is never pooled."""
        conn = self._conn
        if conn is None or self._receiving:
            raise RuntimeError("detach() only before the body is read, once")
        self._conn = None
        return conn.stream, conn.trailing_data

    def upgrade(self) -> tuple[NetworkStream, bytes]:
        """After a 101: :meth:`detach`."""
        if self.status != 101:
            raise RuntimeError("upgrade() is only for a 101 response")
        return self.detach()

    async def aclose(self) -> None:
        """Drop the response: its connection is closed unless the body was read to its end
        (then it is pooled already). Never raises."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
