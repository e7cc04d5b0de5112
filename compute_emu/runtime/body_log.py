"""``-vv``: the first bytes of the client's request body, of the app's response body and of
each backend response body the app reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..log import BODY_LIMIT

if TYPE_CHECKING:
    from ..log import RequestLog
    from ..sdk._interface import OutgoingResponse
    from ..server.connection import Exchange
    from ..upstream.client import UpstreamResponse


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


def log_response_body(log: RequestLog, request_id: int, response: OutgoingResponse) -> None:
    """The app's response body, if it is in memory (a streamed one: what is buffered)."""
    body = response.body
    buffered = body.prefix[:BODY_LIMIT]
    if buffered or body.known_length():
        log.body(request_id, "<", buffered, body.known_length())


class ResponseBodyTap:
    """An :class:`UpstreamResponse` look-alike keeping the first :data:`BODY_LIMIT` bytes of
    the body as it is read; logged (``  <``) at its end, or when dropped part-read."""

    def __init__(self, response: UpstreamResponse, log: RequestLog, request_id: int) -> None:
        self._response = response
        self._log = log
        self._request_id = request_id
        self._kept = b""
        self._total = 0
        self._done = False

    async def receive(self, timeout: float | None = None) -> bytes:
        """The next body chunk, as the response gives it."""
        chunk = await self._response.receive(timeout)
        self._total += len(chunk)
        if len(self._kept) < BODY_LIMIT:
            self._kept += chunk[: BODY_LIMIT - len(self._kept)]
        if not chunk:
            self._flush()
        return chunk

    async def aclose(self) -> None:
        """Drop the response (what was read of the body is logged)."""
        self._flush()
        await self._response.aclose()

    async def __aenter__(self) -> ResponseBodyTap:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _flush(self) -> None:
        if not self._done and self._total:
            self._done = True
            self._log.body(self._request_id, "  <", self._kept, self._total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)
