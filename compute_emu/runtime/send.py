"""``Request.send(backend)``: one call to a backend, its body streamed on demand.

The response body is not read here. It is handed to the SDK as a stream, so a response that
goes straight to the client flows through chunk by chunk and a 1 GiB download never sits in
memory. The connection goes back to the pool when the body has been read to its end.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import TYPE_CHECKING

import h11

from ..manifest import BackendConfig
from ..sdk._errors import SendError, SendErrorCause
from ..sdk._request import Request
from ..server.framing import end_to_end, header_value
from ..upstream.client import UpstreamConnection, UpstreamError
from ..upstream.target import UpstreamTarget, backend_target
from .bridge import LoopBodyStream, body_length, iterate_body

if TYPE_CHECKING:
    from .services import Services

_NOT_FORWARDED = frozenset({"host", "expect"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class BackendCall:
    """A backend response whose head has arrived and whose body is still on the wire."""

    def __init__(
        self,
        services: Services,
        backend: BackendConfig,
        conn: UpstreamConnection,
        head: h11.Response,
    ) -> None:
        self.services = services
        self.backend = backend
        self.status = head.status_code
        self.headers = [(n.decode("latin-1"), v) for n, v in head.headers.raw_items()]
        self._conn: UpstreamConnection | None = conn
        length = header_value(self.headers, "content-length")
        self.length: int | None = None
        if length is not None:
            with contextlib.suppress(ValueError):
                self.length = int(length)

    def body_stream(self) -> LoopBodyStream:
        """The response body as a lazily read stream."""
        return LoopBodyStream(self.services.loop, self._read, self.length)

    async def _read(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        try:
            chunk = await conn.receive_chunk(_seconds(self.backend.between_bytes_timeout_ms))
        except UpstreamError as exc:
            await self.aclose()
            raise SendError(self.backend.name, exc.cause, exc.detail) from None
        if not chunk:
            self._conn = None
            await self.services.pool.release(conn)
        return chunk

    async def aclose(self) -> None:
        """Drop the connection (the body was not read to its end)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()


async def open_backend_call(
    services: Services,
    backend: BackendConfig,
    request: Request,
    ssl_context: ssl.SSLContext | None = None,
) -> BackendCall:
    """Send ``request`` to ``backend`` and wait for the response head; raises SendError."""
    headers = request._headers.items()
    host = header_value(headers, "host")
    target = backend_target(
        backend, request.get_url_str(), host.decode("latin-1") if host else None
    )
    out = [("Host", target.host_header.encode())]
    out += [(n, v) for n, v in end_to_end(headers) if n.lower() not in _NOT_FORWARDED]
    prefix, stream = request.take_body().detach()
    length = body_length(prefix, stream)
    method = request.get_method()
    if length is None:
        out.append(("transfer-encoding", b"chunked"))
    elif length > 0 or method in _BODY_METHODS:
        out.append(("content-length", str(length).encode()))
    replayable = stream is None

    for attempt in (1, 2):
        conn = await _connect(services, backend, target, ssl_context)
        body = prefix if stream is None else iterate_body(prefix, stream)
        try:
            await conn.send_request(method, target.request_target, out, body)
            head = await conn.receive_response(_seconds(backend.first_byte_timeout_ms))
        except UpstreamError as exc:
            await conn.aclose()
            stale = conn.reused and exc.cause in (
                SendErrorCause.ConnectionTerminated,
                SendErrorCause.HttpIncompleteResponse,
            )
            if attempt == 1 and stale and replayable:
                continue  # a keep-alive connection the backend closed meanwhile: retry fresh
            raise SendError(backend.name, exc.cause, exc.detail) from None
        if isinstance(head, h11.InformationalResponse):
            await conn.aclose()
            raise SendError(
                backend.name,
                SendErrorCause.HttpUpgradeFailed,
                "the backend switched protocols; use handoff_websocket() for WebSockets",
            )
        return BackendCall(services, backend, conn, head)
    raise AssertionError("unreachable")


async def _connect(
    services: Services,
    backend: BackendConfig,
    target: UpstreamTarget,
    ssl_context: ssl.SSLContext | None,
) -> UpstreamConnection:
    try:
        return await services.pool.connect(target, ssl_context)
    except UpstreamError as exc:
        raise SendError(
            backend.name, exc.cause, f"{target.host}:{target.port}: {exc.detail}"
        ) from None
