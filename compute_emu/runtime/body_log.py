"""``-vv``: the first bytes of the client's request body and of the app's response body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..log import BODY_LIMIT

if TYPE_CHECKING:
    from ..log import RequestLog
    from ..sdk._response import Response
    from ..server.connection import Exchange


class RequestBodyTap:
    """Stands between the exchange and whoever reads the request body; keeps its first
    :data:`BODY_LIMIT` bytes and logs them once the body ended (or the request did)."""

    def __init__(self, log: RequestLog, request_id: int, exchange: Exchange) -> None:
        self.log = log
        self.request_id = request_id
        self.kept = b""
        self.total = 0
        self.done = False
        self._receive: Callable[[], Awaitable[bytes]] = exchange.receive_body
        exchange.receive_body = self.receive  # type: ignore[method-assign]

    async def receive(self) -> bytes:
        """The next chunk, as the exchange gives it."""
        chunk = await self._receive()
        self.total += len(chunk)
        if len(self.kept) < BODY_LIMIT:
            self.kept += chunk[: BODY_LIMIT - len(self.kept)]
        if not chunk:
            self.flush()
        return chunk

    def flush(self) -> None:
        """Log what was read (once)."""
        if not self.done and self.total:
            self.done = True
            self.log.body(self.request_id, ">", self.kept, self.total)


def log_response_body(log: RequestLog, request_id: int, response: Response) -> None:
    """The app's response body, if it is in memory (a streamed one: what is buffered)."""
    body = response._body
    buffered = bytes(body._buffer[:BODY_LIMIT])
    if buffered or body.known_length():
        log.body(request_id, "<", buffered, body.known_length())
