"""How many client connections a server holds, and which one gives way to a newcomer
(sans-I/O: the caller closes what this says to close).

Every connection costs a file descriptor (two for a handoff: the client's and Pushpin's or the
backend's), and the process has a fixed number of them; past that ``accept()`` fails and the
server can open nothing at all (no backend connection, no file). So a server holds at most
``limit`` connections. One client must not be able to fill them faster than the server frees
them, so a newcomer at the limit takes the place of the connection that has been **waiting
longest for a request head** (idle between keep-alive requests, or sending a head slowly): such
a connection is doing nothing the server owes anything to (HTTP clients retry a request on a
kept-alive connection that closes), and a well-behaved client's head takes microseconds, so
the longest waiting one is the idlest or the slowest. Only when every connection is busy
(a request being served, a held stream, a WebSocket) is the newcomer refused.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class ConnectionSlots(Generic[T]):
    """At most ``limit`` connections; those waiting for a request head give way, oldest first.

    A connection is *busy* once admitted, *waiting* from :meth:`waiting` (the server waits for a
    request head) until :meth:`busy` (a head arrived) or :meth:`release`.
    """

    __slots__ = ("_busy", "_waiting", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a server holds at least 1 connection, not {limit}")
        self.limit = limit
        self._busy: set[T] = set()
        self._waiting: dict[T, None] = {}  # insertion order: longest waiting first

    def __len__(self) -> int:
        return len(self._busy) + len(self._waiting)

    def admit(self, conn: T) -> tuple[bool, T | None]:
        """Admit ``conn`` as busy: ``(True, None)``, or ``(True, evicted)`` when ``evicted`` (the
        connection waiting longest for a head) must be closed to make room, which is then
        no longer counted; ``(False, None)`` when every connection is busy (refuse ``conn``)."""
        evicted: T | None = None
        if len(self) >= self.limit:
            if not self._waiting:
                return False, None
            evicted = next(iter(self._waiting))
            del self._waiting[evicted]
        self._busy.add(conn)
        return True, evicted

    def waiting(self, conn: T) -> None:
        """``conn`` now waits for a request head (it may give way to a newcomer)."""
        if conn in self._busy:
            self._busy.discard(conn)
            self._waiting[conn] = None

    def busy(self, conn: T) -> None:
        """A request head arrived on ``conn`` (or it was handed on): it keeps its place."""
        if conn in self._waiting:
            del self._waiting[conn]
            self._busy.add(conn)

    def release(self, conn: T) -> None:
        """``conn`` is closed (or was evicted: then nothing changes)."""
        self._busy.discard(conn)
        self._waiting.pop(conn, None)
