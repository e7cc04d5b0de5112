"""``Request.send(backend)``: one call to a backend, its body streamed on demand.

The response body is not read here. It is handed to the SDK as a stream, so a response that
goes straight to the client flows through chunk by chunk and a 1 GiB download never sits in
memory. The connection goes back to the pool when the body has been read to its end.
The upstream client's errors become the SDK's ``SendError`` here, in :func:`send_error`.

Two faces are defined here, below everything that uses them:

- :class:`BackendCall`: a response whose head has arrived, as the request's scope hands it to
  the app (an :class:`UpstreamCall` on the wire, or the readthrough cache's stand-ins);
- :class:`CallScope`: what a backend call needs of the request that makes it (the readthrough
  cache and pending calls take it, never the whole request).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..aio.loop import Loop
from ..manifest import BackendConfig
from ..rules.backend import backend_request
from ..rules.framing import FramingError, content_length, manual_framing
from ..sdk._errors import SendError, SendErrorCause
from ..sdk._interface import OutgoingRequest
from ..upstream.client import (
    FailureKind,
    Origin,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from .bridge import LoopBodyStream, body_length, iterate_body

if TYPE_CHECKING:
    from .services import Services

T = TypeVar("T")


class CallScope(Protocol):
    """The request a backend call is made for, as the readthrough cache and pending calls see
    it. The scope object itself owns the fetches it starts: a request never waits for (collapses
    onto) a fetch of its own."""

    @property
    def request_id(self) -> int: ...

    @property
    def services(self) -> Services: ...

    def tag(self, note: int | None, word: str) -> None:
        """Add ``word`` (HIT, MISS, STALE, PASS) to the request's log note ``note``."""
        ...

    async def run_hook(self, hook: Callable[[T], T], value: T) -> T:
        """Run one of the app's cache hooks on the app's side; its result."""
        ...


class BackendCall(Protocol):
    """A backend response whose head has arrived: on the wire, or served by the cache."""

    status: int
    headers: list[tuple[str, bytes]]
    length: int | None  # the body's declared length, when known

    @property
    def backend_name(self) -> str: ...

    @property
    def version(self) -> str:
        """The response's HTTP version, e.g. ``"HTTP/1.1"``."""
        ...

    def body_stream(self) -> LoopBodyStream:
        """The body as a stream read on demand."""
        ...

    async def aclose(self) -> None:
        """Release what the response holds (its connection, if the body was not all read)."""
        ...


class BodySink(Protocol):
    """Where a backend body is copied as it is read (the cache, on a miss)."""

    def feed(self, chunk: bytes) -> None:
        """The next chunk; ``b""`` at the end."""
        ...

    def abort(self) -> None:
        """The body will not be read to its end."""
        ...


_CAUSES = {
    FailureKind.DNS: SendErrorCause.DnsError,
    FailureKind.CONNECT_REFUSED: SendErrorCause.ConnectionRefused,
    FailureKind.CONNECT_TIMEOUT: SendErrorCause.ConnectionTimeout,
    FailureKind.UNREACHABLE: SendErrorCause.DestinationUnavailable,
    FailureKind.TLS_CERTIFICATE: SendErrorCause.TlsCertificateError,
    FailureKind.TLS_PROTOCOL: SendErrorCause.TlsProtocolError,
    FailureKind.TERMINATED: SendErrorCause.ConnectionTerminated,
    FailureKind.INCOMPLETE: SendErrorCause.HttpIncompleteResponse,
    FailureKind.PROTOCOL: SendErrorCause.HttpProtocolError,
    FailureKind.HEAD_TOO_LARGE: SendErrorCause.HttpResponseHeaderSectionTooLarge,
    FailureKind.RESPONSE_TIMEOUT: SendErrorCause.HttpResponseTimeout,
    FailureKind.REQUEST: SendErrorCause.InternalError,
    FailureKind.BODY: SendErrorCause.InternalError,
    FailureKind.INTERNAL: SendErrorCause.InternalError,
}


def send_error(backend: str, error: UpstreamError, origin: Origin | None = None) -> SendError:
    """The SDK's SendError for an upstream failure (connect failures name the origin; a
    request body that failed with a SendError of its own, another backend's, gives that)."""
    if error.kind is FailureKind.BODY and isinstance(error.__cause__, SendError):
        return error.__cause__
    detail = error.detail
    if origin is not None and error.kind.connecting:
        detail = f"{origin.label}: {detail}"
    return SendError(backend, _CAUSES[error.kind], detail)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class UpstreamCall:
    """A :class:`BackendCall` on the wire: the head has arrived, the body is still coming."""

    def __init__(self, loop: Loop, backend: BackendConfig, response: UpstreamResponse) -> None:
        self._loop = loop
        self.backend = backend
        self.status = response.status
        self.headers = response.headers
        self.version = f"HTTP/{response.http_version}"
        self._response = response
        self._between_bytes = _seconds(backend.between_bytes_timeout_ms)
        self.sink: BodySink | None = None  # set by the readthrough cache on a miss
        self.length: int | None = None
        with contextlib.suppress(FramingError):  # checked when the head arrived
            self.length = content_length(self.headers)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def body_stream(self) -> LoopBodyStream:
        """The response body as a lazily read stream."""
        return LoopBodyStream(self._loop, self._read, self.length)

    async def _read(self) -> bytes:
        try:
            chunk = await self._response.receive(self._between_bytes)
        except UpstreamError as exc:
            self._abort_sink()
            raise send_error(self.backend.name, exc) from None
        if self.sink is not None:
            self.sink.feed(chunk)
            if not chunk:
                self.sink = None
        return chunk

    def _abort_sink(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.abort()

    async def read_all(self) -> bytes:
        """The whole body (a background revalidation reads it so)."""
        chunks = []
        while chunk := await self._read():
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Drop the connection unless the body was read to its end (then it is pooled); a
        body copied into the cache and not read to its end is not stored."""
        self._abort_sink()
        await self._response.aclose()


async def open_backend_call(
    services: Services,
    backend: BackendConfig,
    request: OutgoingRequest,
    ssl_context: ssl.SSLContext | None = None,
) -> UpstreamCall:
    """Send ``request`` to ``backend`` and wait for the response head; raises SendError."""
    prefix, stream = request.body.prefix, request.body.stream
    method = request.method
    length = body_length(prefix, stream)
    manual = manual_framing(request.headers, length) if request.framing_from_headers else None
    if manual is not None:  # the app's own framing
        length = int(manual[1]) if manual[0] == "content-length" else None
    outgoing = backend_request(backend, method, request.url, list(request.headers), length)
    origin = Origin.of(outgoing.destination, ssl_context)
    upstream = UpstreamRequest(
        method,
        outgoing.target,
        outgoing.headers,
        prefix if stream is None else iterate_body(prefix, stream, services.workers),
        head_timeout=_seconds(backend.first_byte_timeout_ms),
    )
    try:
        response = await services.pool.request(origin, upstream)
    except UpstreamError as exc:
        raise send_error(backend.name, exc, origin) from None
    if response.status == 101:
        await response.aclose()
        raise SendError(
            backend.name,
            SendErrorCause.HttpUpgradeFailed,
            "the backend switched protocols; use handoff_websocket() for WebSockets",
        )
    return UpstreamCall(services.loop, backend, response)
