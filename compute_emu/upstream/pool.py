"""Idle keep-alive connections, per Origin."""

from __future__ import annotations

import time

import anyio

from .connection import HTTP11Connection
from .errors import connect_failure
from .models import Origin
from .network import NetworkBackend

CONNECT_TIMEOUT = 10.0  # seconds, when the Origin does not say
MAX_IDLE_PER_ORIGIN = 32
MAX_IDLE = 256  # in all; past it the oldest idle connection is closed
IDLE_EXPIRY = 60.0  # an idle connection older than this is closed, not reused
SWEEP_EVERY = 5.0


class ConnectionPool:
    """Opens connections and keeps finished ones for reuse.

    A connection is only taken back when its exchange ended cleanly with nothing unread
    (:meth:`HTTP11Connection.start_next_cycle`), and only reused while it is not readable:
    an idle connection with data or an EOF waiting went stale and is closed. The most
    recently used connection of an origin is reused first.
    """

    def __init__(
        self,
        network: NetworkBackend,
        *,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        max_idle: int = MAX_IDLE,
        idle_expiry: float = IDLE_EXPIRY,
    ) -> None:
        self.network = network
        self.max_idle_per_origin = max_idle_per_origin
        self.max_idle = max_idle
        self.idle_expiry = idle_expiry
        self.closed = False
        self._idle: dict[Origin, list[HTTP11Connection]] = {}
        self._oldest_first: dict[HTTP11Connection, None] = {}  # every idle one, by age
        self._swept = time.monotonic()

    def idle_count(self, origin: Origin | None = None) -> int:
        """How many idle connections are kept (for ``origin``, or in all)."""
        if origin is None:
            return len(self._oldest_first)
        return len(self._idle.get(origin, ()))

    async def acquire(self, origin: Origin) -> HTTP11Connection:
        """The most recently used live idle connection to ``origin``, else a new one."""
        idle = self._idle.get(origin)
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                del self._oldest_first[conn]
                if now - conn.idle_since < self.idle_expiry and not conn.stream.is_readable():
                    conn.reused = True
                    return conn
                await conn.aclose()
        return await self.connect(origin)

    async def connect(self, origin: Origin) -> HTTP11Connection:
        """A new connection to ``origin``; raises UpstreamError (connect kinds)."""
        try:
            with anyio.fail_after(origin.connect_timeout or CONNECT_TIMEOUT):
                stream = await self.network.connect(origin)
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            # OSError includes TimeoutError, ssl.SSLError and socket.gaierror; anyio's own
            # errors come from a TLS handshake the peer broke off
            raise connect_failure(exc) from exc
        return HTTP11Connection(stream, origin)

    async def release(self, conn: HTTP11Connection) -> None:
        """Keep a finished connection for reuse, or close it if it cannot be reused."""
        now = time.monotonic()
        if now - self._swept > SWEEP_EVERY:
            await self._sweep(now)
        if self.closed or not conn.start_next_cycle():
            await conn.aclose()
            return
        bucket = self._idle.setdefault(conn.origin, [])
        if len(bucket) >= self.max_idle_per_origin:
            await conn.aclose()
            return
        evicted = None
        if len(self._oldest_first) >= self.max_idle:
            evicted = next(iter(self._oldest_first))
            self._forget(evicted)
        conn.idle_since = now
        bucket.append(conn)
        self._oldest_first[conn] = None
        if evicted is not None:
            await evicted.aclose()

    def _forget(self, conn: HTTP11Connection) -> None:
        del self._oldest_first[conn]
        bucket = self._idle[conn.origin]
        bucket.remove(conn)
        if not bucket:
            del self._idle[conn.origin]

    async def _sweep(self, now: float) -> None:
        """Close idle connections past their expiry (the oldest come first)."""
        self._swept = now
        expired: list[HTTP11Connection] = []
        for conn in self._oldest_first:
            if now - conn.idle_since < self.idle_expiry:
                break
            expired.append(conn)
        for conn in expired:
            self._forget(conn)
        for conn in expired:  # closed once the pool is consistent again
            await conn.aclose()

    async def aclose(self) -> None:
        """Close every idle connection; nothing is kept from now on."""
        self.closed = True
        idle, self._oldest_first, self._idle = list(self._oldest_first), {}, {}
        for conn in idle:
            await conn.aclose()
