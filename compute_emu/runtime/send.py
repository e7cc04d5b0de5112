"""``Request.send(backend)``: one call to a backend, its body streamed on demand.

The response body is not read here. It is handed to the SDK as a stream, so a response that
goes straight to the client flows through chunk by chunk and a 1 GiB download never sits in
memory. The connection goes back to the pool when the body has been read to its end.
The upstream client's errors become the SDK's ``SendError`` here, in :func:`send_error`.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import TYPE_CHECKING

from ..manifest import BackendConfig
from ..rules.backend import backend_request
from ..rules.framing import FramingError, content_length
from ..sdk._errors import SendError, SendErrorCause
from ..sdk._request import Request
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


class BackendCall:
    """A backend response whose head has arrived and whose body is still on the wire."""

    def __init__(
        self, services: Services, backend: BackendConfig, response: UpstreamResponse
    ) -> None:
        self.services = services
        self.backend = backend
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self._between_bytes = _seconds(backend.between_bytes_timeout_ms)
        self.length: int | None = None
        with contextlib.suppress(FramingError):  # checked when the head arrived
            self.length = content_length(self.headers)

    def body_stream(self) -> LoopBodyStream:
        """The response body as a lazily read stream."""
        return LoopBodyStream(self.services.loop, self._read, self.length)

    async def _read(self) -> bytes:
        try:
            return await self._response.receive(self._between_bytes)
        except UpstreamError as exc:
            raise send_error(self.backend.name, exc) from None

    async def aclose(self) -> None:
        """Drop the connection unless the body was read to its end (then it is pooled)."""
        await self._response.aclose()


async def open_backend_call(
    services: Services,
    backend: BackendConfig,
    request: Request,
    ssl_context: ssl.SSLContext | None = None,
) -> BackendCall:
    """Send ``request`` to ``backend`` and wait for the response head; raises SendError."""
    prefix, stream = request.take_body().detach()
    method = request.get_method()
    outgoing = backend_request(
        backend,
        method,
        request.get_url_str(),
        request._headers.items(),
        body_length(prefix, stream),
    )
    origin = Origin.of(outgoing.destination, ssl_context)
    upstream = UpstreamRequest(
        method,
        outgoing.target,
        outgoing.headers,
        prefix if stream is None else iterate_body(prefix, stream),
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
    return BackendCall(services, backend, response)
